"""Querysets on the hot path, compiled to SQL once instead of on every request.

Django turns a queryset into SQL anew each time it runs it. For a plain lookup that is most
of the query's cost in Python: the authenticated user with membership and organization (a
join over three tables) spent about four times as long being compiled as being run, on every
API request. `CompiledQuery` compiles the queryset once per thread and database, then runs
that SQL with each call's parameters and builds the objects (related ones included) with the
ORM's own machinery, exactly as iterating the queryset would.

`CompiledInsert` does the same for `Model.objects.create` of one row: the INSERT is compiled
once, each call only converts its values (the fields' own `pre_save` and database conversion,
`auto_now_add` included).

Only for querysets whose SQL does not depend on the values passed, and whose parameters are
integer keys (a primary or foreign key): the queryset is compiled with a probe value for each
parameter, and each call's values take the probes' places among the compiled parameters (any
other parameter of the SQL is the queryset's own constant). A queryset that does not carry a
probe as it is (a key computed from it) is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Field, Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery
from django.db.models.sql.compiler import SQLCompiler, SQLInsertCompiler

M = TypeVar("M", bound=Model)


# Probe values for the parameters: keys no row has (negative, far from any serial's range).
_PROBES = tuple(-(2**62) - index for index in range(8))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: list[Any]  # the compiled parameters, the probes' places to fill
    places: list[list[int]]  # for each parameter of a call, where it goes in `params`
    compiler: SQLCompiler
    converters: dict[int, Any]  # the database's and the fields' converters, by column
    model: type[Model]
    fields: slice
    init_list: list[str]
    related_populators: list[Any]
    annotations: dict[str, int]  # `annotate()`d attributes and their columns


class CompiledQuery(Generic[M]):
    """`build(*keys)` compiled once per thread and database; `first(*keys)` runs it.

    `build` must return the same SQL whatever the keys (an equality filter on each, a slice
    for `first`), and the keys must be ints already (`field.get_prep_value`).
    """

    def __init__(self, build: Callable[..., QuerySet[M]], *, using: str = "default") -> None:
        self._build = build
        self._using = using
        self._local = threading.local()

    def _compiled(self, count: int) -> _Compiled:
        compiled: _Compiled | None = getattr(self._local, "compiled", None)
        if compiled is not None:
            return compiled
        probes = _PROBES[:count]
        queryset = self._build(*probes)
        compiler = queryset.query.get_compiler(using=self._using)
        sql, compiled_params = compiler.as_sql()
        places = [[i for i, value in enumerate(compiled_params) if value == probe] for probe in probes]
        if not all(places):
            raise ValueError("CompiledQuery: the queryset's SQL does not take every parameter as it is")
        info = compiler.klass_info
        assert info is not None
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ValueError("CompiledQuery: composite fields are not supported")
        start, end = info["select_fields"][0], info["select_fields"][-1] + 1
        compiled = _Compiled(
            sql=sql,
            params=list(compiled_params),
            places=places,
            compiler=compiler,
            converters=compiler.get_converters(columns),
            model=info["model"],
            fields=slice(start, end),
            init_list=[column[0].target.attname for column in compiler.select[start:end]],
            related_populators=get_related_populators(info, compiler.select, self._using),
            annotations=dict(compiler.annotation_col_map or {}),
        )
        self._local.compiled = compiled
        return compiled

    def first(self, *params: Any) -> M | None:
        """The first row as a model instance, with its `select_related` objects; None if none."""
        compiled = self._compiled(len(params))
        values = list(compiled.params)
        for value, places in zip(params, compiled.places, strict=True):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"CompiledQuery: parameters are integer keys, not {value!r}")
            for place in places:
                values[place] = value
        with connections[self._using].cursor() as cursor:
            cursor.execute(compiled.sql, values)
            row = cursor.fetchone()
        if row is None:
            return None
        # The database's and the fields' converters (dates, booleans, JSON), as the ORM applies.
        if compiled.converters:
            (row,) = compiled.compiler.apply_converters([row], compiled.converters)
        obj = compiled.model.from_db(self._using, compiled.init_list, row[compiled.fields])
        for populator in compiled.related_populators:
            populator.populate(row, obj)
        for name, column in compiled.annotations.items():
            setattr(obj, name, row[column])
        return obj  # type: ignore[return-value]


class CompiledInsert(Generic[M]):
    """`model.objects.create(**values)` without the object back, its INSERT compiled once per
    thread and database.

    Every concrete field is written (its default, or its `pre_save` value, when not given), the
    auto primary key excepted. No `pre_save`/`post_save` signal is sent, so a model with
    receivers is refused. No model instance is built either: each field takes its value (a
    related object's key for a foreign key), its default, or its `pre_save` (`auto_now_add`),
    then its own conversion for the database, as `create()` would.
    """

    def __init__(self, model: type[M], *, using: str = "default") -> None:
        self._model = model
        self._using = using
        self._local = threading.local()
        meta = model._meta
        self._fields: list[Field[Any, Any]] = [
            f for f in meta.local_concrete_fields if f is not meta.auto_field and not f.generated
        ]
        self._names = {f.name for f in self._fields} | {f.attname for f in self._fields}

    def _compiled(self, values: dict[str, Any]) -> tuple[str, Any]:
        compiled: tuple[str, Any] | None = getattr(self._local, "compiled", None)
        if compiled is not None:
            return compiled
        if pre_save.has_listeners(self._model) or post_save.has_listeners(self._model):
            raise ValueError(f"CompiledInsert: {self._model.__name__} has save signal receivers")
        query = InsertQuery(self._model)
        query.insert_values(self._fields, [self._model(**values)])
        compiler: SQLInsertCompiler = query.get_compiler(using=self._using)
        [(sql, params)] = compiler.as_sql()
        if len(params) != len(self._fields):
            raise ValueError(f"CompiledInsert: {self._model.__name__}: not one parameter per field")
        compiled = (sql, compiler.connection)
        self._local.compiled = compiled
        return compiled

    def insert(self, **values: Any) -> None:
        unknown = values.keys() - self._names
        if unknown:
            raise TypeError(f"CompiledInsert: {self._model.__name__} has no field {sorted(unknown)}")
        sql, connection = self._compiled(values)
        row = SimpleNamespace()  # what `pre_save` reads (and `auto_now_add` sets), by attname
        for field in self._fields:
            if field.name in values:
                value = values[field.name]
                if field.is_relation and isinstance(value, Model):
                    foreign_key: Any = field
                    value = getattr(value, foreign_key.target_field.attname)
            elif field.attname in values:
                value = values[field.attname]
            else:
                value = field.get_default()
            setattr(row, field.attname, value)
        params = []
        for field in self._fields:
            value = field.pre_save(row, True)  # type: ignore[arg-type]
            if hasattr(value, "resolve_expression"):
                raise TypeError(f"CompiledInsert: {field.name} is an expression, not a value")
            params.append(field.get_db_prep_save(value, connection=connection))
        with connections[self._using].cursor() as cursor:
            cursor.execute(sql, params)
