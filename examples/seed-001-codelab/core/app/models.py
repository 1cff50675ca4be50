"""Seed 001's seven tables ("Схема базы данных") as SQLAlchemy models: what Alembic's autogenerate compares the
database with (migrations/env.py), and the one description of the schema. The service itself queries through
stapel.kit.sql's named queries (app/sql/*.sql).

Indexes as the seed lists them: every foreign key, the frequent filters (status, created_at), and composite ones
for the queries the service runs (a session's messages in order, an agent's tasks by status, a user's pending
approvals)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def _id() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid, primary_key=True, server_default=text("gen_random_uuid()"))


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = _id()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    created_at: Mapped[datetime] = _created()
    __table_args__ = (Index("ix_users_email", "email", unique=True), Index("ix_users_created_at", "created_at"))


class UserAgent(Base):
    __tablename__ = "user_agents"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    config: Mapped[dict] = mapped_column(JSON, nullable=False, server_default=text("'{}'::json"))
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="ready")  # ready, busy, error
    created_at: Mapped[datetime] = _created()
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_user_agents_user_id_name"),
                      Index("ix_user_agents_user_id", "user_id"), Index("ix_user_agents_status", "status"),
                      Index("ix_user_agents_created_at", "created_at"))


class UserOrchestrator(Base):
    __tablename__ = "user_orchestrators"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    config: Mapped[dict] = mapped_column(JSON, nullable=False, server_default=text("'{}'::json"))
    created_at: Mapped[datetime] = _created()
    __table_args__ = (Index("ix_user_orchestrators_user_id", "user_id", unique=True),)


class ChatSession(Base):
    __tablename__ = "chat_sessions"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    created_at: Mapped[datetime] = _created()
    __table_args__ = (Index("ix_chat_sessions_user_id", "user_id"), Index("ix_chat_sessions_created_at", "created_at"),
                      Index("ix_chat_sessions_user_id_created_at", "user_id", "created_at"))


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[uuid.UUID] = _id()
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)  # user, assistant, system
    content: Mapped[str] = mapped_column(Text, nullable=False)
    agent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    __table_args__ = (Index("ix_messages_session_id", "session_id"), Index("ix_messages_agent_id", "agent_id"),
                      Index("ix_messages_created_at", "created_at"),
                      Index("ix_messages_session_id_created_at", "session_id", "created_at"))


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[uuid.UUID] = _id()
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False)
    agent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_agents.id", ondelete="CASCADE"), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="queued")  # queued, running, completed, failed
    result: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_tasks_session_id", "session_id"), Index("ix_tasks_agent_id", "agent_id"),
                      Index("ix_tasks_status", "status"), Index("ix_tasks_created_at", "created_at"),
                      Index("ix_tasks_agent_id_status", "agent_id", "status"))


class ApprovalRequest(Base):
    __tablename__ = "approval_requests"
    id: Mapped[uuid.UUID] = _id()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    type: Mapped[str] = mapped_column(String(20), nullable=False)  # tool, plan
    payload: Mapped[dict] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, server_default="pending")  # pending, approved, rejected, timeout
    created_at: Mapped[datetime] = _created()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_approval_requests_user_id", "user_id"), Index("ix_approval_requests_status", "status"),
                      Index("ix_approval_requests_created_at", "created_at"),
                      Index("ix_approval_requests_user_id_status", "user_id", "status"))
