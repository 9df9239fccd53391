# bash completion for troupe (installed by cmake --install into
# share/bash-completion/completions/troupe).
# Commands, each command's options, signal names, and program and group
# names (with GROUP:* and all) as `troupe avail` lists them from the
# daemon that --socket or -c on the line names.

_troupe_names()
{
	local conn=("$@")
	troupe "${conn[@]}" avail 2>/dev/null |
		awk '{ print $1 } / group( in .*)?$/ { print $1 ":*" }
		     END { print "all" }'
}

_troupe()
{
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	local commands="supervise status tree ps start stop restart signal pid
		reread reload update avail logs clear top shutdown"
	local global="--socket --config -c --help --version"
	case $prev in
	--socket | -s)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--config | -c)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	-n | --lines | --interval | --timeout)
		return ;;
	-p | --pid)
		COMPREPLY=($(compgen -W "$(troupe ps 2>/dev/null |
			awk 'NR > 1 { print $1 }')" -- "$cur"))
		return ;;
	esac
	# The command and the connection options already on the line.
	local cmd="" conn=() i nargs=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--socket | -s | --config | -c)
			conn+=("${words[i]}" "${words[i + 1]}")
			((i++)) ;;
		-n | --lines | --interval | --timeout | -p | --pid) ((i++)) ;;
		-*) ;;
		*) if [[ -z $cmd ]]; then cmd=${words[i]}; else ((nargs++)); fi ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands $global" -- "$cur"))
		return
	fi
	local opts="--help"
	case $cmd in
	status | tree) opts+=" --json -p --pid" ;;
	start | stop | restart | signal) opts+=" -p --pid" ;;
	ps) opts+=" --json" ;;
	logs) opts+=" -n --lines -f --follow" ;;
	top) opts+=" -n --interval -p --pid" ;;
	shutdown) opts+=" --no-wait --timeout" ;;
	supervise) opts+=" --detach --socket" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts $global" -- "$cur"))
		return
	fi
	case $cmd in
	supervise)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur")) ;;
	signal)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -A signal -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_troupe_names "${conn[@]}")" -- "$cur"))
		fi ;;
	status | start | stop | restart | pid | logs | clear | update)
		COMPREPLY=($(compgen -W "$(_troupe_names "${conn[@]}")" -- "$cur")) ;;
	esac
}
complete -F _troupe troupe
