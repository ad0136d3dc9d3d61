#!/usr/bin/env bash
# Voice notes (POST /api/message/media with an audio file, isVoice true) are converted to OGG/Opus
# by the session runner with ffmpeg (session-runner/messaging/voice-note.ts), so the embedded
# stack and the tests need it. Installs Debian's ffmpeg when none is on the PATH and we may use apt.
set -euo pipefail
if command -v ffmpeg >/dev/null 2>&1; then exit 0; fi
echo "zapfleet: ffmpeg not found; installing ffmpeg (needed to send voice notes)" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "zapfleet: please install ffmpeg (e.g. apt-get install ffmpeg)" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
command -v ffmpeg >/dev/null 2>&1
