# SPDX-License-Identifier: MIT
# bash completion for lamctl(1) and lamd(8).

_lamctl() {
  local cur prev cmd
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  cmd=${COMP_WORDS[1]}
  case $prev in
    --socket|--state-dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --model) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --backend) COMPREPLY=($(compgen -W "auto cpu cuda" -- "$cur")); return ;;
    --batch|--threads|-c|--count|--name) return ;;
  esac
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "embed status ping cache model help --help --version" -- "$cur"))
    return
  fi
  case $cmd in
    status) COMPREPLY=($(compgen -W "--socket --json --prometheus --help server model clients queue batches requests executables transports http" -- "$cur")) ;;
    ping) COMPREPLY=($(compgen -W "--socket -c --count --live --help" -- "$cur")) ;;
    cache)
      if [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "ls warm clear" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "--socket --json --help" -- "$cur"))
      fi ;;
    model)
      if [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "install ls use --help" -- "$cur"))
      elif [ "${COMP_WORDS[2]}" = install ] && [ "$COMP_CWORD" -eq 3 ]; then
        compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))
      elif [ "${COMP_WORDS[2]}" = use ] && [ "$COMP_CWORD" -eq 3 ]; then
        COMPREPLY=($(compgen -W "$(ls "${LAMD_STATE_DIR:-/var/lib/lamd}/models" 2>/dev/null)" -- "$cur"))
      elif [ "${COMP_WORDS[2]}" = install ]; then
        COMPREPLY=($(compgen -W "--state-dir --name --activate --force --help" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "--state-dir --help" -- "$cur"))
      fi ;;
    embed) COMPREPLY=($(compgen -W "--model --socket --text --threads --batch --backend --help" -- "$cur")) ;;
  esac
}
complete -F _lamctl lamctl

_lamd() {
  local cur prev
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD-1]}
  case $prev in
    --model|--cache-dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
    --socket|--config) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --backend) COMPREPLY=($(compgen -W "auto cpu cuda" -- "$cur")); return ;;
    --log-level) COMPREPLY=($(compgen -W "off fatal error warning info debug trace" -- "$cur")); return ;;
  esac
  # The flags, from lamd's own usage text (so the list stays that of the installed lamd).
  local flags
  flags=$("${COMP_WORDS[0]}" --help 2>&1 | grep -oE -- '--[a-z][a-z-]+' | sort -u)
  COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}
complete -F _lamd lamd
