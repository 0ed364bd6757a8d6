using System.Globalization;
using Ingestion.Contracts.Indexes;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Tenancy;
using Ingestion.Workers.Jobs;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Indexes;

/// <summary>
/// Builds an index on a loaded dataset's table without blocking its loads or reads:
/// <c>CREATE INDEX CONCURRENTLY IF NOT EXISTS</c>, outside any transaction (PostgreSQL refuses it
/// inside one), then declares it in the dataset's definition so reads may use it.
/// <para>
/// The build runs on a session of its own (<see cref="IndexBuildSessions"/>), recorded with the job, and
/// the message that started it is let go after <see cref="IndexBuildOptions.MaxHold"/>: a build may take
/// hours, RabbitMQ redelivers a message held 30 minutes. Each later turn of the job, on any worker, finds
/// the build running (watches it again), ended (finishes the job), or gone with its worker (builds again).
/// </para>
/// <para>
/// A concurrent build that fails, is cancelled or dies with its worker leaves an INVALID index of
/// that name, which <c>IF NOT EXISTS</c> would then take for done. So every build first drops an
/// invalid index of the name it is about to build, and a failed build drops what it left at once;
/// the name is the service's (<see cref="DatasetIndex.NameOf"/>) and one job builds it (migration
/// 0019), and an index is taken for the job's (dropped, or declared) only when it is on the dataset's
/// table over exactly the job's columns, so what is dropped is never another build's work in progress.
/// </para>
/// </summary>
public sealed partial class IndexBuilder(DatasetCatalog catalog, IndexBuildSessions sessions, IOptions<IndexBuildOptions> options,
    ILogger<IndexBuilder> logger) : IJobStep<BuildIndex>
{
    private const string LockNotAvailable = "55P03";

    /// <summary>The index of that name in the schema: whether it is valid, and whether it is the job's (table, columns, plain btree).</summary>
    private const string FindIndexSql = """
        select i.indisvalid,
               t.relname = @table and am.amname = 'btree' and i.indexprs is null and i.indpred is null
               and array(select a.attname::text
                         from unnest(i.indkey::int2[]) with ordinality k(attnum, position)
                         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
                         order by k.position) = @columns
        from pg_index i
        join pg_class c on c.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        join pg_class t on t.oid = i.indrelid
        join pg_am am on am.oid = c.relam
        where n.nspname = @schema and c.relname = @name
        """;

    /// <summary>The build's progress while its backend (pid and start: a pid may be reused) runs it; no row while it waits for a lock or once it ended.</summary>
    private const string ProgressSql = """
        select p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total
        from pg_stat_progress_create_index p
        join pg_stat_activity a on a.pid = p.pid
        where p.pid = @pid and a.backend_start = @backend_start
        """;

    private const string SessionSql = """
        select attempt, starts, backend_pid, backend_start, finished_at, error_code, error_message, stopped_at is not null
        from ingestion.index_build_sessions where job_id = @job
        """;

    private const string CancelSql = """
        select pg_cancel_backend(pid) from pg_stat_activity where pid = @pid and backend_start = @backend_start
        """;

    /// <summary>
    /// Whether the build's backend is alive: build sessions are not pooled, so it lives exactly as long as its build
    /// (waiting for a lock, building, or recording how it ended), and never serves other work.
    /// </summary>
    private const string AliveSql = """
        select exists (select from pg_stat_activity where pid = @pid and backend_start = @backend_start)
        """;

    public JobKind Kind => IndexBuildJob.Descriptor;

    public bool RunsOutsideWorkingStates => false;

    public BuildIndex AtAttempt(BuildIndex command, int attempt) => command with { Attempt = attempt };

    public string TenantOf(BuildIndex command) => command.TenantId;

    public async Task<JobOutcome> RunAsync(JobRun<BuildIndex> run, CancellationToken cancellationToken)
    {
        var command = run.Command;
        var connection = run.Connection;
        if (await catalog.FindAsync(command.TenantId, command.Dataset, cancellationToken) is not { } dataset)
        {
            return await FailAsync(run, "dataset_missing", $"Dataset '{command.Dataset}' no longer exists.", cancellationToken);
        }

        // The API checked the columns; the definition is read again in case the dataset was replaced since.
        if (DatasetIndex.Check(command.Columns, c => dataset.Columns.Any(d => d.Name == c)) is { } invalid)
        {
            return await FailAsync(run, "column_missing", $"The index cannot be built: its columns {invalid}", cancellationToken);
        }

        var target = TargetOf(command, dataset);

        // Every wait of the drops (the table's lock, older transactions) is bounded by the lock timeout, so a
        // busy table ends the job as table_busy instead of a command timeout retried.
        await SetTimeoutsAsync(connection, cancellationToken);
        try
        {
            return await StepAsync(run, dataset, target, cancellationToken);
        }
        finally
        {
            // The connection goes back to the pool: the next user gets the server's defaults.
            await using var reset = new NpgsqlCommand("reset lock_timeout; reset statement_timeout", connection);
            await reset.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// One turn of the job: picks up the build an earlier turn started (still running: watch it; ended: finish
    /// the job; its worker died: build again, up to <see cref="IndexBuildOptions.MaxStarts"/>; its worker stopped it while
    /// shutting down: build again, not counted), or starts it.
    /// </summary>
    private async Task<JobOutcome> StepAsync(JobRun<BuildIndex> run, DatasetDefinition dataset, Target target,
        CancellationToken cancellationToken)
    {
        var command = run.Command;
        var starts = 0;
        var recorded = await ReadSessionAsync(run.Connection, command.JobId, cancellationToken);
        if (recorded is { Finished: false } && recorded.Attempt != command.Attempt
            && !await EndBuildAsync(run.Connection, recorded.Session, cancellationToken))
        {
            // An earlier attempt's build still runs (cancelled and retried between its turns, or faulted): a second build of
            // the index must not start beside it, nor drop what it is building. It was cancelled; the job asks again shortly.
            return run.ResumeLater(DateTimeOffset.UtcNow + options.Value.ProgressInterval);
        }

        if (recorded is not null && recorded.Attempt == command.Attempt)
        {
            starts = recorded.Starts;
            if (recorded.Finished)
            {
                return await FinishAsync(run, dataset, target, recorded, cancellationToken);
            }

            if (sessions.Runs(command.JobId) || await IsAliveAsync(run.Connection, recorded.Session, cancellationToken))
            {
                return await WatchAsync(run, dataset, target, recorded.Session, cancellationToken);
            }

            // The backend is gone. The record is read again: the build's session writes how it ended, or that its worker
            // stopped it, before the backend ends, and the first read may be older than that (a build stopped between the
            // two reads would otherwise count as lost, and its drop wait for the table where it should build again).
            recorded = await ReadSessionAsync(run.Connection, command.JobId, cancellationToken) ?? recorded;
            if (recorded.Finished)
            {
                return await FinishAsync(run, dataset, target, recorded, cancellationToken);
            }

            // Not finished and no backend builds it: its worker stopped it, or died and PostgreSQL ended the build with the session.
            if (await FindAsync(run.Connection, target, cancellationToken) == Found.Valid)
            {
                return await FinishAsync(run, dataset, target, recorded, cancellationToken);
            }

            if (recorded.Stopped)
            {
                // A worker that shut down cancelled its build on purpose: it is started again in that one's place, so
                // deployments during a long build never use up MaxStarts, which bounds builds lost to crashes.
                LogStoppedBuild(command.JobId, target.Name);
                starts--;
            }
            else
            {
                LogLostBuild(command.JobId, target.Name, starts);
                if (starts >= options.Value.MaxStarts)
                {
                    await TryDropAsync(run.Connection, target, onlyInvalid: true);
                    return await FailAsync(run, "build_failed",
                        $"The build of index {target.Name} was started {starts} times (IndexBuilds:MaxStarts) and each time its " +
                        "worker died before it ended; retry the job.", cancellationToken);
                }
            }
        }

        if (sessions.Running >= options.Value.ConcurrentJobs)
        {
            // This worker builds as many as it may (each scans and sorts a whole table): the job asks again shortly.
            return run.ResumeLater(DateTimeOffset.UtcNow + options.Value.ProgressInterval);
        }

        try
        {
            // A concurrent build that failed or died leaves an INVALID index that IF NOT EXISTS would take for done.
            await DropInvalidAsync(run.Connection, target, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == LockNotAvailable)
        {
            return await FailAsync(run, "table_busy", TableBusy(dataset), cancellationToken);
        }

        await run.Events.Publish(new IndexBuildStarted(command.JobId, target.Name, DateTimeOffset.UtcNow, command.Attempt), cancellationToken);
        await sessions.StartAsync(run.Connection, command.JobId, command.Attempt, starts + 1,
            DatasetIndex.CreateSql(command.TenantId, dataset.Name, command.Columns, concurrently: true), cancellationToken);
        var started = await ReadSessionAsync(run.Connection, command.JobId, cancellationToken);
        return await WatchAsync(run, dataset, target, started!.Session, cancellationToken);
    }

    /// <summary>
    /// Follows the build for at most <see cref="IndexBuildOptions.MaxHold"/>, publishing PostgreSQL's progress of it
    /// about once a second, then lets the message go (<see cref="JobOutcome.Continue"/>) while the build runs on:
    /// no message is held for longer than that, however long the build. A cancel seen here stops the build.
    /// </summary>
    private async Task<JobOutcome> WatchAsync(JobRun<BuildIndex> run, DatasetDefinition dataset, Target target, BuildSession session,
        CancellationToken cancellationToken)
    {
        var command = run.Command;
        var since = DateTimeOffset.UtcNow;
        var seen = false;
        while (true)
        {
            if (await run.IsCancelledAsync(cancellationToken))
            {
                await CancelBuildAsync(run.Connection, command, dataset, target);
                await run.StopAsync();
                cancellationToken.ThrowIfCancellationRequested();
            }

            if (await ReadSessionAsync(run.Connection, command.JobId, cancellationToken) is { Finished: true } finished)
            {
                return await FinishAsync(run, dataset, target, finished, cancellationToken);
            }

            await using (var progress = new NpgsqlCommand(ProgressSql, run.Connection))
            {
                progress.Parameters.AddWithValue("pid", session.Pid);
                progress.Parameters.AddWithValue("backend_start", session.BackendStart);
                await using var reader = await progress.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    await run.Events.Publish(new IndexBuildProgressed(command.JobId, reader.GetString(0), reader.GetInt64(1),
                        reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), DateTimeOffset.UtcNow, command.Attempt), cancellationToken);
                }
            }

            if (await IsAliveAsync(run.Connection, session, cancellationToken))
            {
                seen = true;
            }
            else if (!sessions.Runs(command.JobId))
            {
                // Neither alive nor finished: the backend is gone. The next turn finds out why.
                return JobOutcome.Continue;
            }

            // Let go only once the build was seen running on the server: the next turn, on any worker, must see it there.
            if (seen && DateTimeOffset.UtcNow - since >= options.Value.MaxHold)
            {
                LogParked(command.JobId, target.Name);
                return JobOutcome.Continue;
            }

            await sessions.WaitAsync(command.JobId, options.Value.ProgressInterval, cancellationToken);
        }
    }

    /// <summary>The build ended: fails the job with what PostgreSQL said, or checks the index is the job's and valid and declares it.</summary>
    private async Task<JobOutcome> FinishAsync(JobRun<BuildIndex> run, DatasetDefinition dataset, Target target, RecordedSession recorded,
        CancellationToken cancellationToken)
    {
        var command = run.Command;
        var connection = run.Connection;
        if (recorded.ErrorCode is { } code)
        {
            await TryDropAsync(connection, target, onlyInvalid: true);
            return code == LockNotAvailable
                ? await FailAsync(run, "table_busy", TableBusy(dataset), cancellationToken)
                : await FailAsync(run, "build_failed", $"PostgreSQL could not build the index: {recorded.ErrorMessage}", cancellationToken);
        }

        switch (await FindAsync(connection, target, cancellationToken))
        {
            case Found.NotOurs:
                // IF NOT EXISTS did nothing: declaring would promise reads an index the table does not have.
                return await FailAsync(run, "index_name_taken",
                    $"Schema {target.Schema} already has an index named {target.Name} that is not on dataset '{dataset.Name}' over " +
                    $"{DatasetIndex.Describe(command.Columns)}; drop or rename it, then retry the job.", cancellationToken);
            case not Found.Valid:
                await TryDropAsync(connection, target, onlyInvalid: true);
                return await FailAsync(run, "build_failed", $"Index {target.Name} was not valid after its build; retry the job.",
                    cancellationToken);
        }

        switch (await DatasetCatalog.DeclareIndexAsync(connection, command.TenantId, dataset.Name, command.Columns, cancellationToken))
        {
            case IndexDeclaration.DatasetMissing:
                return await FailAsync(run, "dataset_missing", $"Dataset '{command.Dataset}' was removed while its index was built.",
                    cancellationToken);
            case IndexDeclaration.TooMany:
                // Builds accepted together ended together: an index no read may use would only slow the loads.
                await TryDropAsync(connection, target, onlyInvalid: false);
                return await FailAsync(run, "too_many_indexes",
                    $"Dataset '{dataset.Name}' reached {DatasetIndex.MaxIndexes} indexes, the most a dataset may have, while this " +
                    $"one was built; index {target.Name} was dropped.", cancellationToken);
        }

        LogBuilt(command.JobId, target.Name);
        await run.Events.Publish(new IndexBuilt(command.JobId, target.Name, DateTimeOffset.UtcNow, command.Attempt), cancellationToken);
        return JobOutcome.Done;
    }

    /// <summary>
    /// A job cancelled between two turns: its build, if one still runs, is cancelled and what it left dropped
    /// (when the table lets the drop through within the lock timeout; otherwise a retry's build drops it first).
    /// </summary>
    public async Task<JobOutcome> StopAsync(JobRun<BuildIndex> run, CancellationToken cancellationToken)
    {
        var command = run.Command;
        if (await catalog.FindAsync(command.TenantId, command.Dataset, cancellationToken) is not { } dataset)
        {
            return JobOutcome.Done;
        }

        await SetTimeoutsAsync(run.Connection, cancellationToken);
        try
        {
            await CancelBuildAsync(run.Connection, command, dataset, TargetOf(command, dataset));
        }
        finally
        {
            await using var reset = new NpgsqlCommand("reset lock_timeout; reset statement_timeout", run.Connection);
            await reset.ExecuteNonQueryAsync(CancellationToken.None);
        }

        return JobOutcome.Done;
    }

    /// <summary>
    /// Cancels the job's build, read from its record at the time of the cancel: a build not yet finished has its statement
    /// cancelled on its backend (only that backend: pid and start both match, and it is not pooled), then what it left is
    /// dropped, valid or not: a build that ended before the cancel reached it leaves a valid index no one declares, which
    /// would escape the most indexes a dataset may have and slow every load. An index the dataset declares is left.
    /// </summary>
    private async Task CancelBuildAsync(NpgsqlConnection connection, BuildIndex command, DatasetDefinition dataset, Target target)
    {
        if (await ReadSessionAsync(connection, command.JobId, CancellationToken.None) is not { } recorded)
        {
            return;
        }

        if (!recorded.Finished)
        {
            await using var cancel = new NpgsqlCommand(CancelSql, connection);
            cancel.Parameters.AddWithValue("pid", recorded.Session.Pid);
            cancel.Parameters.AddWithValue("backend_start", recorded.Session.BackendStart);
            await cancel.ExecuteNonQueryAsync(CancellationToken.None);
        }

        // The cancelled CREATE ends within moments; the drop waits for it under the lock timeout.
        var declared = dataset.SecondaryIndexes.Any(columns => columns.SequenceEqual(command.Columns));
        await TryDropAsync(connection, target, onlyInvalid: declared);
    }

    /// <summary>
    /// Cancels the build on its backend and waits, up to the lock timeout, for the backend to end (its session is not
    /// pooled, so it ends with the build). Returns whether it ended.
    /// </summary>
    private async Task<bool> EndBuildAsync(NpgsqlConnection connection, BuildSession session, CancellationToken cancellationToken)
    {
        if (!await IsAliveAsync(connection, session, cancellationToken))
        {
            return true;
        }

        LogEndingEarlierBuild(session.Pid);
        await using (var cancel = new NpgsqlCommand(CancelSql, connection))
        {
            cancel.Parameters.AddWithValue("pid", session.Pid);
            cancel.Parameters.AddWithValue("backend_start", session.BackendStart);
            await cancel.ExecuteNonQueryAsync(cancellationToken);
        }

        var until = DateTimeOffset.UtcNow + options.Value.LockTimeout;
        while (await IsAliveAsync(connection, session, cancellationToken))
        {
            if (DateTimeOffset.UtcNow >= until)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }

        return true;
    }

    private static async Task<bool> IsAliveAsync(NpgsqlConnection connection, BuildSession session, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(AliveSql, connection);
        command.Parameters.AddWithValue("pid", session.Pid);
        command.Parameters.AddWithValue("backend_start", session.BackendStart);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<RecordedSession?> ReadSessionAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(SessionSql, connection);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }

        return new RecordedSession(reader.GetInt32(0), reader.GetInt32(1),
            new BuildSession(reader.GetInt32(2), reader.GetFieldValue<DateTimeOffset>(3)), !reader.IsDBNull(4),
            reader.IsDBNull(5) ? null : reader.GetString(5), reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetBoolean(7));
    }

    private static Target TargetOf(BuildIndex command, DatasetDefinition dataset) =>
        new(TenantSchema.NameOf(command.TenantId), DatasetIndex.NameOf(dataset.Name, command.Columns), dataset.Name, command.Columns);

    private string TableBusy(DatasetDefinition dataset) =>
        $"The build waited longer than {options.Value.LockTimeout.TotalSeconds:0} s (IndexBuilds:LockTimeout) for a lock on " +
        $"dataset '{dataset.Name}' or for transactions older than it to end; retry the job when the table is quieter.";

    /// <summary>The job's lock timeout, and no statement timeout (a drop may wait for a large build's end), on its connection.</summary>
    private async Task SetTimeoutsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var lockTimeout = ((long)options.Value.LockTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        await using var set = new NpgsqlCommand(
            "select set_config('lock_timeout', @lock_timeout, false), set_config('statement_timeout', '0', false)", connection);
        set.Parameters.AddWithValue("lock_timeout", lockTimeout);
        await set.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<Found> FindAsync(NpgsqlConnection connection, Target target, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(FindIndexSql, connection);
        command.Parameters.AddWithValue("schema", target.Schema);
        command.Parameters.AddWithValue("name", target.Name);
        command.Parameters.AddWithValue("table", target.Table);
        command.Parameters.AddWithValue("columns", target.Columns.ToArray());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return Found.None;
        }

        return !reader.GetBoolean(1) ? Found.NotOurs : reader.GetBoolean(0) ? Found.Valid : Found.Invalid;
    }

    /// <summary>Drops the job's own index (its table, its columns) when it is invalid; any other index of the name is left alone.</summary>
    private Task DropInvalidAsync(NpgsqlConnection connection, Target target, CancellationToken cancellationToken) =>
        DropAsync(connection, target, onlyInvalid: true, cancellationToken);

    private async Task DropAsync(NpgsqlConnection connection, Target target, bool onlyInvalid, CancellationToken cancellationToken)
    {
        var found = await FindAsync(connection, target, cancellationToken);
        if (found is not (Found.Invalid or Found.Valid) || (onlyInvalid && found is Found.Valid))
        {
            return;
        }

        LogDroppingInvalid(target.Schema, target.Name);
        await using var drop = new NpgsqlCommand(
            $"drop index concurrently if exists {Identifier.Quote(target.Schema)}.{Identifier.Quote(target.Name)}", connection)
        {
            // Its waits (the table, older transactions) are bounded by the lock timeout, not by a command timeout.
            CommandTimeout = 0,
        };
        await drop.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>In a failure path (a busy table, a cancel, a lost server): the next run drops it anyway, so a failure here only waits for that.</summary>
    private async Task TryDropAsync(NpgsqlConnection connection, Target target, bool onlyInvalid)
    {
        try
        {
            await DropAsync(connection, target, onlyInvalid, CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            LogDropDeferred(target.Name, e.Message);
        }
    }

    private async Task<JobOutcome> FailAsync(JobRun<BuildIndex> run, string code, string message, CancellationToken cancellationToken)
    {
        LogFailed(run.Command.JobId, code, message);
        await run.Events.Publish(new IndexBuildFailed(run.Command.JobId, code, message, DateTimeOffset.UtcNow, run.Command.Attempt),
            cancellationToken);
        return JobOutcome.Done;
    }

    /// <summary>
    /// A job's build as recorded: its attempt, how many times it was started, its backend, how it ended, and whether its
    /// worker stopped it on purpose (shutting down) rather than losing it.
    /// </summary>
    private sealed record RecordedSession(int Attempt, int Starts, BuildSession Session, bool Finished, string? ErrorCode,
        string? ErrorMessage, bool Stopped);

    /// <summary>The index a job builds: its name in the tenant's schema, on the dataset's table, over these columns in order.</summary>
    private sealed record Target(string Schema, string Name, string Table, IReadOnlyList<string> Columns);

    private enum Found
    {
        None,
        Valid,
        Invalid,
        NotOurs,
    }

    [LoggerMessage(LogLevel.Information, "Index build {JobId}: index {Name} is built and declared")]
    private partial void LogBuilt(Guid jobId, string name);

    [LoggerMessage(LogLevel.Information, "Index build {JobId}: index {Name} is still building; the message goes back to the queue while it does")]
    private partial void LogParked(Guid jobId, string name);

    [LoggerMessage(LogLevel.Information, "Index build {JobId}: index {Name} was stopped with its worker; it is built again, not counted as a start")]
    private partial void LogStoppedBuild(Guid jobId, string name);

    [LoggerMessage(LogLevel.Warning, "Index build {JobId}: build {Starts} of index {Name} ended with its worker before it finished")]
    private partial void LogLostBuild(Guid jobId, string name, int starts);

    [LoggerMessage(LogLevel.Warning, "An earlier attempt's index build still runs on PostgreSQL backend {Pid}: it is cancelled before this attempt builds")]
    private partial void LogEndingEarlierBuild(int pid);

    [LoggerMessage(LogLevel.Warning, "Dropping the index {Schema}.{Name} a failed or interrupted build left")]
    private partial void LogDroppingInvalid(string schema, string name);

    [LoggerMessage(LogLevel.Warning, "The index {Name} could not be dropped now ({Reason}); the next build of it drops it first if invalid")]
    private partial void LogDropDeferred(string name, string reason);

    [LoggerMessage(LogLevel.Warning, "Index build {JobId} failed ({Code}): {Message}")]
    private partial void LogFailed(Guid jobId, string code, string message);
}
