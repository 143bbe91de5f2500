// Keeps the redis module non-empty until its first real source lands; remove then.
namespace tg::redis {
int placeholderSymbol() { return 0; }
}  // namespace tg::redis
