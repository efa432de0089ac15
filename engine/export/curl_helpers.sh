# shellcheck shell=bash
# The bash half of an exported curl script: clean-ups, sending, capturing and checking.
# A curl export embeds this file after its settings (TARGET, SECRET_NAMES, and PY: the text of
# curl_helpers.py, which reads JSON where jq is not assumed) and before its steps.
# tests/test_curl_helpers.py runs shellcheck on it and calls its functions.

T=$(mktemp -d "${TMPDIR:-/tmp}/journeys-curl.XXXXXX") || exit 3
CLEANUPS=()  # functions that remove what the steps created, registered as the steps are walked

clean_up() {  # run the registered clean-ups, newest first; none of them changes the exit status
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
    "${CLEANUPS[i]}" || true
  done
  CLEANUPS=()
}

on_exit() {  # however the script ends: clean up, remove the temporary folder, keep the exit status
  local status=$?
  trap - EXIT
  clean_up
  rm -rf "$T"
  exit "$status"
}
trap on_exit EXIT

diverged() {  # the path could not be walked: a step answered otherwise than in the failing run
  clean_up
  echo "NOT WALKED: $1; the path could not be walked" >&2
  exit 3
}

# send NAME LABEL METHOD URL [curl options]: the body goes to $T/NAME.json, the status to STATUS_NAME.
send() {
  local name=$1 label=$2 method=$3 url=$4 code
  shift 4
  : > "$T/$name.json"
  code=$(curl -sS --max-time 30 -X "$method" -o "$T/$name.json" -w '%{http_code}' "$@" "$url") || code=000
  printf -v "STATUS_$name" '%s' "${code:-000}"
  if [ "${code:-000}" = 000 ]; then echo "$label -> no response"; else echo "$label -> $code"; fi
}

answered() {  # answered NAME WHERE: request NAME got a response, or the walk ends here
  local status="STATUS_$1"
  [ "${!status}" != 000 ] || diverged "$2 got no response"
}

one_of() {  # one_of STATUS CODE...: is STATUS one of the codes?
  local status=$1 code
  shift
  for code in "$@"; do [ "$status" = "$code" ] && return 0; done
  return 1
}

body_hint() {  # the start of NAME's response body, with secret-looking fields masked
  python3 -c "$PY" body_hint "$T/$1.json" "$SECRET_NAMES"
}

# fetch VARIABLE NAME PATH: a value from NAME's response body, at PATH (a JSON list); a string
# as it is, anything else as JSON text. Fails when the body has no such field (or no body).
fetch() {
  local value
  value=$(python3 -c "$PY" fetch "$T/$2.json" "$3") || return 1
  printf -v "$1" '%s' "${value%.}"
}

# capture VARIABLE NAME PATH WHERE: fetch, and a missing field means the path could not be walked.
capture() {
  fetch "$1" "$2" "$3" || diverged "the response to $4 has no field $3 $(body_hint "$2")"
}

path_quote() {  # a path value URL-encoded as journeys sends it (every reserved character escaped)
  python3 -c "$PY" path_quote "$1"
}

# json_body FILE NAME=VALUE...: the JSON template on standard input, its slots filled in.
json_body() {
  python3 -c "$PY" json_body "$@"
}

# check_field NAME LABEL PATH OP EXPECTED NAME=VALUE...: the field check, as journeys evaluates it.
check_field() {
  python3 -c "$PY" check_field "$T/$1.json" "${@:2}"
}

# check_text NAME LABEL PATH CONTAINS NAME=VALUE...: the text is in the field (PATH null: the whole body).
check_text() {
  python3 -c "$PY" check_text "$T/$1.json" "${@:2}"
}

reproduced() { clean_up; echo "REPRODUCED: $1"; exit 1; }
not_reproduced() { clean_up; echo "NOT REPRODUCED: ${1:-the last check passed}"; exit 0; }
