// RunStore on the SQLite C API: one connection, WAL journal, prepared
// statements kept for the life of the store (Impl), one mutex around all of
// it. Schema changes bump kRunStoreSchemaVersion and migrate in Migrate().
#include "sdk/metrics/run_store.h"

#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "ops/base/error.h"

namespace loom::metrics {
namespace {

constexpr int kBusyTimeoutMs = 5000;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  config TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
  started_at REAL NOT NULL,
  ended_at REAL,
  world_size INTEGER NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  heartbeat_at REAL,
  lost_after_s REAL);
CREATE INDEX IF NOT EXISTS runs_by_name ON runs (name, id);
CREATE TABLE IF NOT EXISTS steps (
  run_id INTEGER NOT NULL REFERENCES runs (id),
  step INTEGER NOT NULL,
  loss REAL, lr REAL, grad_norm REAL, tokens_per_s REAL, step_time_s REAL,
  peak_mem_bytes INTEGER,
  extra TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL REFERENCES runs (id),
  step INTEGER NOT NULL,
  time REAL NOT NULL,
  kind TEXT NOT NULL,
  message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, id);
)sql";

// Version 1 had no heartbeat columns (read-only opens of one read NULLs).
std::string RunColumns(bool heartbeat) {
  return std::string(R"sql(
  SELECT r.id, r.name, r.config, r.status, r.started_at, r.ended_at, r.world_size, r.error,
    (SELECT COUNT(*) FROM steps s WHERE s.run_id = r.id),
    (SELECT MAX(step) FROM steps s WHERE s.run_id = r.id),
    (SELECT loss FROM steps s WHERE s.run_id = r.id ORDER BY step DESC LIMIT 1), )sql") +
         (heartbeat ? "r.heartbeat_at, r.lost_after_s" : "NULL, NULL") + " FROM runs r ";
}

double Now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// A prepared statement; Reset() after each use (RAII via Use below).
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) !=
        SQLITE_OK) {
      throw Error("run store: cannot prepare statement: " + std::string(sqlite3_errmsg(db)));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(int i, int64_t v) { return Check(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& Bind(int i, double v) { return Check(sqlite3_bind_double(stmt_, i, v)); }
  Statement& Bind(int i, const std::string& v) {
    return Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                                   SQLITE_TRANSIENT));
  }
  Statement& BindNull(int i) { return Check(sqlite3_bind_null(stmt_, i)); }

  // True while there is a row; throws on errors.
  bool Step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error("run store: " + std::string(sqlite3_errmsg(db_)));
  }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  double Real(int col) const { return IsNull(col) ? kNaN : sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col))
             : std::string();
  }

 private:
  Statement& Check(int rc) {
    if (rc != SQLITE_OK) throw Error("run store: bind: " + std::string(sqlite3_errmsg(db_)));
    return *this;
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement when the scope ends (also on exceptions).
struct Use {
  explicit Use(Statement& s) : stmt(s) {}
  ~Use() { stmt.Reset(); }
  Statement& stmt;
};

RunStatus ParseStatus(const std::string& s) {
  if (s == "completed") return RunStatus::kCompleted;
  if (s == "failed") return RunStatus::kFailed;
  if (s == "cancelled") return RunStatus::kCancelled;
  return RunStatus::kRunning;
}

RunInfo ReadRun(const Statement& s) {
  RunInfo r;
  r.id = s.Int(0);
  r.name = s.Text(1);
  r.config_json = s.Text(2);
  r.status = ParseStatus(s.Text(3));
  r.started_at = s.Real(4);
  r.ended_at = s.IsNull(5) ? 0 : s.Real(5);
  r.world_size = s.Int(6);
  r.error = s.Text(7);
  r.num_steps = s.Int(8);
  r.last_step = s.IsNull(9) ? -1 : s.Int(9);
  r.last_loss = s.Real(10);
  r.heartbeat_at = s.IsNull(11) ? 0 : s.Real(11);
  r.lost_after_s = s.IsNull(12) ? 0 : s.Real(12);
  if (r.status == RunStatus::kRunning && r.lost_after_s > 0 && r.heartbeat_at > 0 &&
      Now() - r.heartbeat_at > r.lost_after_s) {
    r.status = RunStatus::kLost;
    r.ended_at = r.heartbeat_at;
  }
  return r;
}

}  // namespace

struct RunStore::Impl {
  sqlite3* db = nullptr;
  std::unique_ptr<Statement> insert_run, insert_step, insert_event, finish_run, run_by_id,
      run_by_name, list_runs, steps, events, reopen_run, heartbeat;

  ~Impl() {
    insert_run.reset(), insert_step.reset(), insert_event.reset(), finish_run.reset();
    reopen_run.reset(), heartbeat.reset();
    run_by_id.reset(), run_by_name.reset(), list_runs.reset(), steps.reset(), events.reset();
    sqlite3_close_v2(db);
  }
  // Runs SQL without results; returns the SQLite result code.
  int Exec(const std::string& sql) { return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr); }
};

const char* RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kCompleted: return "completed";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kCancelled: return "cancelled";
    case RunStatus::kLost: return "lost";
  }
  return "running";
}

double RunInfo::DurationSeconds() const {
  return (ended_at > 0 ? ended_at : Now()) - started_at;
}

RunStore::RunStore(const std::string& path, Mode mode) : path_(path), impl_(new Impl) {
  namespace fs = std::filesystem;
  const std::string fix_path = "pass --db PATH (or set run.db) to a run store you can write";
  if (mode == Mode::kReadOnly && !fs::exists(path)) {
    throw ConfigError(ErrorWithFix("no run store at '" + path + "'",
                                   "start a training run (it creates the store) or pass "
                                   "--db PATH of an existing one"));
  }
  if (fs::is_directory(path)) {
    throw ConfigError(ErrorWithFix("run store path '" + path + "' is a directory",
                                   "pass --db PATH of a file, e.g. runs/loom.sqlite"));
  }
  if (mode == Mode::kReadWrite) {
    const fs::path parent = fs::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec) {
      throw ConfigError(ErrorWithFix("cannot create directory '" + parent.string() +
                                         "' for the run store: " + ec.message(),
                                     fix_path));
    }
  }
  const int flags = mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY
                                            : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(path.c_str(), &impl_->db, flags | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string reason = impl_->db ? sqlite3_errmsg(impl_->db) : "out of memory";
    throw ConfigError(ErrorWithFix("cannot open run store '" + path + "': " + reason, fix_path));
  }
  sqlite3_busy_timeout(impl_->db, kBusyTimeoutMs);
  auto fail = [&](const std::string& what) {
    const std::string reason = sqlite3_errmsg(impl_->db);
    if (sqlite3_errcode(impl_->db) == SQLITE_NOTADB) {
      throw ConfigError(ErrorWithFix("'" + path + "' is not a run store (" + reason + ")",
                                     "pass --db PATH of a Loom run store (a .sqlite file)"));
    }
    throw ConfigError(ErrorWithFix(what + " '" + path + "': " + reason, fix_path));
  };
  if (mode == Mode::kReadWrite) {
    if (impl_->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;") != SQLITE_OK) {
      fail("cannot open run store");
    }
    if (impl_->Exec(std::string("BEGIN IMMEDIATE;") + kSchema) != SQLITE_OK) {
      fail("cannot create the run store tables in");
    }
    impl_->Exec("INSERT INTO schema_version SELECT " + std::to_string(kRunStoreSchemaVersion) +
                " WHERE NOT EXISTS (SELECT 1 FROM schema_version);");
    if (impl_->Exec("COMMIT;") != SQLITE_OK) fail("cannot initialize run store");
  }
  impl_->Exec("PRAGMA foreign_keys=ON;");
  auto read_version = [&] {
    sqlite3_stmt* version = nullptr;
    if (sqlite3_prepare_v2(impl_->db, "SELECT MAX(version) FROM schema_version", -1, &version,
                           nullptr) != SQLITE_OK) {
      if (sqlite3_errcode(impl_->db) == SQLITE_NOTADB) fail("");
      throw ConfigError(ErrorWithFix("'" + path + "' is not a Loom run store (" +
                                         sqlite3_errmsg(impl_->db) + ")",
                                     "pass --db PATH of a Loom run store"));
    }
    const int v = sqlite3_step(version) == SQLITE_ROW ? sqlite3_column_int(version, 0) : 0;
    sqlite3_finalize(version);
    return v;
  };
  int found = read_version();
  if (found > kRunStoreSchemaVersion) {
    throw ConfigError(ErrorWithFix("run store '" + path + "' has schema version " +
                                       std::to_string(found) + ", newer than this Loom's " +
                                       std::to_string(kRunStoreSchemaVersion),
                                   "use a newer loom to read it"));
  }
  if (found == 1 && mode == Mode::kReadWrite) {  // version 2 added the heartbeat columns
    if (impl_->Exec("BEGIN IMMEDIATE; ALTER TABLE runs ADD COLUMN heartbeat_at REAL; "
                    "ALTER TABLE runs ADD COLUMN lost_after_s REAL; UPDATE schema_version SET version = 2; "
                    "COMMIT;") != SQLITE_OK) {
      impl_->Exec("ROLLBACK;");  // another process may have migrated it meanwhile
    }
    found = read_version();
    if (found != 2) fail("cannot migrate the run store to schema version 2 in");
  }
  const bool heartbeat = found >= 2;
  auto prepare = [&](const std::string& sql) { return std::make_unique<Statement>(impl_->db, sql); };
  impl_->insert_run = prepare(
      heartbeat ? "INSERT INTO runs (name, config, status, started_at, world_size, heartbeat_at, lost_after_s) "
                  "VALUES (?1, ?2, 'running', ?3, ?4, ?3, ?5)"
                : "INSERT INTO runs (name, config, status, started_at, world_size) "
                  "VALUES (?1, ?2, 'running', ?3, ?4)");
  impl_->insert_step = prepare(
      "INSERT OR REPLACE INTO steps (run_id, step, loss, lr, grad_norm, tokens_per_s, "
      "step_time_s, peak_mem_bytes, extra) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  impl_->insert_event = prepare(
      "INSERT INTO events (run_id, step, time, kind, message) VALUES (?1, ?2, ?3, ?4, ?5)");
  impl_->finish_run = prepare("UPDATE runs SET status = ?2, ended_at = ?3, error = ?4 WHERE id = ?1");
  impl_->run_by_id = prepare(RunColumns(heartbeat) + "WHERE r.id = ?1");
  impl_->run_by_name = prepare(RunColumns(heartbeat) + "WHERE r.name = ?1 ORDER BY r.id DESC LIMIT 1");
  impl_->list_runs = prepare(RunColumns(heartbeat) + "ORDER BY r.id DESC");
  if (heartbeat && mode == Mode::kReadWrite) {
    impl_->reopen_run = prepare(
        "UPDATE runs SET status = 'running', ended_at = NULL, error = '', config = ?2, world_size = ?3, "
        "heartbeat_at = ?4, lost_after_s = ?5 WHERE id = ?1");
    impl_->heartbeat = prepare("UPDATE runs SET heartbeat_at = ?2 WHERE id = ?1");
  }
  impl_->steps = prepare(
      "SELECT step, loss, lr, grad_norm, tokens_per_s, step_time_s, peak_mem_bytes, extra "
      "FROM steps WHERE run_id = ?1 AND step > ?2 ORDER BY step");
  impl_->events = prepare(
      "SELECT step, time, kind, message, id FROM events WHERE run_id = ?1 AND id > ?2 ORDER BY id");
}

RunStore::~RunStore() = default;

int64_t RunStore::CreateRun(const std::string& name, const std::string& config_json,
                            int64_t world_size, double lost_after_s) {
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->insert_run);
  use.stmt.Bind(1, name).Bind(2, config_json).Bind(3, Now()).Bind(4, world_size);
  if (impl_->heartbeat) use.stmt.Bind(5, lost_after_s);
  use.stmt.Step();
  return sqlite3_last_insert_rowid(impl_->db);
}

void RunStore::ReopenRun(int64_t run_id, const std::string& config_json, int64_t world_size,
                         double lost_after_s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!impl_->reopen_run) throw Error("run store '" + path_ + "' is read-only");
  Use use(*impl_->reopen_run);
  use.stmt.Bind(1, run_id).Bind(2, config_json).Bind(3, world_size).Bind(4, Now()).Bind(5, lost_after_s).Step();
  if (sqlite3_changes(impl_->db) == 0) {
    throw Error("run store: no run " + std::to_string(run_id) + " in '" + path_ + "'");
  }
}

void RunStore::Heartbeat(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!impl_->heartbeat) return;
  Use use(*impl_->heartbeat);
  use.stmt.Bind(1, run_id).Bind(2, Now()).Step();
}

bool RunStore::HasRun(int64_t run_id, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->run_by_id);
  return use.stmt.Bind(1, run_id).Step() && use.stmt.Text(1) == name;
}

void RunStore::LogStep(int64_t run_id, const StepMetrics& m) {
  if (!m.extra.is_null() && !m.extra.is_object()) {
    throw Error("run store: StepMetrics.extra must be a JSON object, got " +
                std::string(m.extra.type_name()));
  }
  const std::string extra = m.extra.is_null() ? "{}" : m.extra.dump();
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->insert_step);
  use.stmt.Bind(1, run_id).Bind(2, m.step).Bind(3, m.loss).Bind(4, m.lr).Bind(5, m.grad_norm);
  use.stmt.Bind(6, m.tokens_per_s).Bind(7, m.step_time_s).Bind(8, m.peak_mem_bytes);
  use.stmt.Bind(9, extra).Step();
}

void RunStore::LogEvent(int64_t run_id, int64_t step, const std::string& kind,
                        const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->insert_event);
  use.stmt.Bind(1, run_id).Bind(2, step).Bind(3, Now()).Bind(4, kind).Bind(5, message).Step();
}

void RunStore::FinishRun(int64_t run_id, RunStatus status, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->finish_run);
  use.stmt.Bind(1, run_id).Bind(2, std::string(RunStatusName(status))).Bind(4, error);
  if (status == RunStatus::kRunning) {
    use.stmt.BindNull(3);
  } else {
    use.stmt.Bind(3, Now());
  }
  use.stmt.Step();
  if (sqlite3_changes(impl_->db) == 0) {
    throw Error("run store: no run " + std::to_string(run_id) + " in '" + path_ + "'");
  }
}

std::vector<RunInfo> RunStore::ListRuns() {
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->list_runs);
  std::vector<RunInfo> runs;
  while (use.stmt.Step()) runs.push_back(ReadRun(use.stmt));
  return runs;
}

RunInfo RunStore::GetRun(const std::string& id_or_name) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool numeric = !id_or_name.empty() &&
                       id_or_name.find_first_not_of("0123456789") == std::string::npos &&
                       id_or_name.size() < 19;
  if (numeric) {
    Use use(*impl_->run_by_id);
    if (use.stmt.Bind(1, static_cast<int64_t>(std::stoll(id_or_name))).Step()) {
      return ReadRun(use.stmt);
    }
  }
  Use use(*impl_->run_by_name);
  if (use.stmt.Bind(1, id_or_name).Step()) return ReadRun(use.stmt);
  throw ConfigError(ErrorWithFix("no run '" + id_or_name + "' in '" + path_ + "'",
                                 "list the runs with `loom runs list --db " + path_ +
                                     "` and pass an id or a name"));
}

std::vector<StepMetrics> RunStore::GetSteps(int64_t run_id, int64_t after_step) {
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->steps);
  use.stmt.Bind(1, run_id);
  use.stmt.Bind(2, after_step);
  std::vector<StepMetrics> steps;
  while (use.stmt.Step()) {
    StepMetrics m;
    m.step = use.stmt.Int(0);
    m.loss = use.stmt.Real(1);
    m.lr = use.stmt.Real(2);
    m.grad_norm = use.stmt.Real(3);
    m.tokens_per_s = use.stmt.Real(4);
    m.step_time_s = use.stmt.Real(5);
    m.peak_mem_bytes = use.stmt.Int(6);
    m.extra = nlohmann::json::parse(use.stmt.Text(7), nullptr, /*allow_exceptions=*/false);
    if (m.extra.is_discarded()) m.extra = nlohmann::json::object();
    steps.push_back(std::move(m));
  }
  return steps;
}

std::vector<RunEvent> RunStore::GetEvents(int64_t run_id, int64_t after_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Use use(*impl_->events);
  use.stmt.Bind(1, run_id);
  use.stmt.Bind(2, after_id);
  std::vector<RunEvent> events;
  while (use.stmt.Step()) {
    events.push_back({use.stmt.Int(0), use.stmt.Real(1), use.stmt.Text(2), use.stmt.Text(3), use.stmt.Int(4)});
  }
  return events;
}

}  // namespace loom::metrics
