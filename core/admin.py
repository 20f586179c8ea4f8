"""The task queue in the admin: django-tasks-db's read-only list of task results, with a
"retry" action for the tasks given up, and the workers alive."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from core import tasks
from core.models import WorkerHeartbeat

admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin):
    actions = ("retry",)

    @admin.action(description="Retry the selected tasks given up")
    def retry(self, request: HttpRequest, queryset: QuerySet[DBTaskResult]) -> None:
        retried = tasks.failed_retry(queryset)
        self.message_user(request, f"{retried} task(s) queued again.", messages.SUCCESS)


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("worker_id", "host", "pid", "started_at", "seen_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
