// The SQLite schema. Append new migrations; never edit one that has shipped.
#include "absl/strings/string_view.h"
#include "control-plane/store/sqlite/sqlite_store.h"

namespace ovvoc::cp {

const std::vector<absl::string_view>& SqliteMigrations() {
  static const auto* migrations = new std::vector<absl::string_view>{
      // 1: tenants, agents, enrollment, jobs.
      R"sql(
        CREATE TABLE orgs (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL UNIQUE,
          created_at INTEGER NOT NULL);
        CREATE TABLE repos (
          id TEXT PRIMARY KEY,
          org_id TEXT NOT NULL REFERENCES orgs(id),
          url TEXT NOT NULL,
          pool TEXT NOT NULL,
          forge TEXT NOT NULL,
          created_at INTEGER NOT NULL);
        CREATE TABLE agents (
          id TEXT PRIMARY KEY,
          org_id TEXT NOT NULL REFERENCES orgs(id),
          pool TEXT NOT NULL,
          hostname TEXT NOT NULL,
          version TEXT NOT NULL,
          enrolled_at INTEGER NOT NULL,
          last_seen_at INTEGER NOT NULL,
          certificate_serial TEXT NOT NULL,
          certificate_expires_at INTEGER NOT NULL,
          revoked INTEGER NOT NULL DEFAULT 0,
          revoked_at INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE enrollment_tokens (
          id TEXT PRIMARY KEY,
          org_id TEXT NOT NULL REFERENCES orgs(id),
          pool TEXT NOT NULL,
          secret_hash BLOB NOT NULL,
          created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          used INTEGER NOT NULL DEFAULT 0,
          used_at INTEGER NOT NULL DEFAULT 0,
          used_by TEXT NOT NULL DEFAULT '');
        CREATE TABLE jobs (
          id TEXT PRIMARY KEY,
          repo_id TEXT NOT NULL REFERENCES repos(id),
          org_id TEXT NOT NULL REFERENCES orgs(id),
          pool TEXT NOT NULL,
          state INTEGER NOT NULL,
          attempt INTEGER NOT NULL,
          max_attempts INTEGER NOT NULL,
          handbacks INTEGER NOT NULL,
          agent_id TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          lease_expires_at INTEGER NOT NULL,
          cancel_requested INTEGER NOT NULL,
          status_reason TEXT NOT NULL,
          progress BLOB NOT NULL,
          result BLOB);
        CREATE INDEX jobs_by_queue ON jobs(state, org_id, pool, created_at);
        CREATE INDEX jobs_by_lease ON jobs(state, lease_expires_at);
        CREATE INDEX jobs_by_org ON jobs(org_id, created_at);
      )sql",
      // 2: the audit log, hash-chained.
      R"sql(
        CREATE TABLE audit_log (
          seq INTEGER PRIMARY KEY,
          time INTEGER NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          subject TEXT NOT NULL,
          details TEXT NOT NULL,
          prev_hash BLOB NOT NULL,
          hash BLOB NOT NULL);
      )sql",
      // 3: the certificate a renewal replaced, accepted until the new one is first used.
      R"sql(
        ALTER TABLE agents ADD COLUMN previous_certificate_serial TEXT NOT NULL DEFAULT '';
      )sql",
      // 4: the newest baseline memo per repository and pool.
      R"sql(
        CREATE TABLE baseline_memos (
          repo_id TEXT NOT NULL REFERENCES repos(id),
          pool TEXT NOT NULL,
          memo BLOB NOT NULL,
          PRIMARY KEY (repo_id, pool));
      )sql",
  };
  return *migrations;
}

}  // namespace ovvoc::cp
