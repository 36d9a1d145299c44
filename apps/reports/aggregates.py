"""A MEDIAN aggregate that runs in the database on PostgreSQL and on SQLite alike."""

import statistics

from django.db.models import Aggregate


class Median(Aggregate):
    """The 50th percentile (interpolated) of a numeric or duration expression; NULLs are
    ignored.

    PostgreSQL has it built in as an ordered-set aggregate. SQLite has none, so
    `sqlite_register_median` gives each SQLite connection one, the way Django itself adds
    STDDEV_POP there.
    """

    function = "MEDIAN"
    name = "Median"
    arity = 1

    def as_postgresql(self, compiler, connection, **extra_context):
        # On the instance, not as a `template=` argument: Aggregate.as_sql passes its own
        # template on when it adds a FILTER clause.
        median = self.copy()
        median.template = "percentile_cont(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
        return median.as_sql(compiler, connection, **extra_context)


class _SqliteMedian(list):
    # SQLite calls step() per row and finalize() once per group; the embedded mode's
    # tables are small enough to hold one group's values.
    def step(self, value) -> None:
        if value is not None:
            self.append(value)

    def finalize(self):
        return statistics.median(self) if self else None


def sqlite_register_median(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_aggregate("MEDIAN", 1, _SqliteMedian)
