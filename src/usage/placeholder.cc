namespace tg::usage {}
