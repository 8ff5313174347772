# Sourced by .ci/run (and usable by hand): installs Redis and PostgreSQL from
# Debian's packages if missing, starts them on 127.0.0.1 and exports the URLs
# the tests read. Filled in with the store work.
:
