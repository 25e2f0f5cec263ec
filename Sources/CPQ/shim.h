// libpq, PostgreSQL's C client library, for service=pgsql checks (its non-blocking API).
#include <libpq-fe.h>
