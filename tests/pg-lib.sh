# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# A throwaway PostgreSQL server for the tests, sourced after tests/lib.sh:
# pg_setup runs initdb and pg_ctl as the user postgres in a directory of
# its own (PGDIR) on a free loopback port (PGPORT), sets DBURL, and stops
# and removes the server at exit; pg_start and pg_stop restart it on the
# same port.

# As postgres, from a directory it may read.
pg_run()
{
	(cd "$PGDIR" && exec runuser -u postgres -- "$@")
}

pg_ctl_run()
{
	pg_run "$PGBIN/pg_ctl" -D "$PGDIR/data" "$@"
}

pg_start()
{
	pg_ctl_run -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR \
	    -c fsync=off" -l "$PGDIR/log" -w -t 20 start >/dev/null 2>&1
}

pg_stop()
{
	pg_ctl_run -m fast -w stop >/dev/null 2>&1
}

# A throwaway PostgreSQL server in a directory owned by postgres (it will
# not run as root), stopped at exit.
pg_setup()
{
	local try
	tr_need runuser psql
	[ "$(id -u)" = 0 ] || tr_skip_all "starting PostgreSQL needs root (runuser)"
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -x "$PGBIN/initdb" ] || tr_skip_all "PostgreSQL server not installed"
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/tokenreviewd-pg.XXXXXX") ||
	    bail "mktemp failed"
	trap 'pg_stop; rm -rf "$PGDIR"; tr_cleanup' EXIT
	chown postgres: "$PGDIR"
	pg_run "$PGBIN/initdb" -D "$PGDIR/data" -A trust \
	    -U tokenreviewd -N >"$PGDIR/initdb.log" 2>&1 ||
	    bail "initdb failed: $(tail -n 5 "$PGDIR/initdb.log")"
	for try in 1 2 3 4 5; do
		PGPORT=$(tr_free_port)
		pg_start && break
		PGPORT=
	done
	[ -n "$PGPORT" ] || bail "PostgreSQL did not start: $(tail -n 5 "$PGDIR/log")"
	DBURL=postgresql://tokenreviewd@127.0.0.1:$PGPORT/postgres
}
