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
/// A concurrent build that fails, is cancelled or dies with its worker leaves an INVALID index of
/// that name, which <c>IF NOT EXISTS</c> would then take for done. So every run first drops an
/// invalid index of the name it is about to build, and a failed build drops what it left at once;
/// the name is the service's (<see cref="DatasetIndex.NameOf"/>) and one job builds it (migration
/// 0019), and an index is taken for the job's (dropped, or declared) only when it is on the dataset's
/// table over exactly the job's columns, so what is dropped is never another build's work in progress.
/// </para>
/// </summary>
public sealed partial class IndexBuilder(DatasetCatalog catalog, NpgsqlDataSource dataSource, IOptions<IndexBuildOptions> options,
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

    private const string ProgressSql = """
        select phase, blocks_done, blocks_total, tuples_done, tuples_total
        from pg_stat_progress_create_index where pid = @pid
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

        var name = DatasetIndex.NameOf(dataset.Name, command.Columns);
        var schema = TenantSchema.NameOf(command.TenantId);
        var target = new Target(schema, name, dataset.Name, command.Columns);
        await run.Events.Publish(new IndexBuildStarted(command.JobId, name, DateTimeOffset.UtcNow, command.Attempt), cancellationToken);

        // Every wait of the build and of its drops (the table's lock, older transactions) is bounded by the
        // lock timeout, so a busy table ends the job as table_busy instead of a command timeout retried.
        await SetTimeoutsAsync(connection, cancellationToken);
        try
        {
            if (await BuildAsync(run, dataset, target, cancellationToken) is { } failed)
            {
                return failed;
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
                        $"one was built; index {name} was dropped.", cancellationToken);
            }
        }
        finally
        {
            // The connection goes back to the pool: the next user gets the server's defaults.
            await using var reset = new NpgsqlCommand("reset lock_timeout; reset statement_timeout", connection);
            await reset.ExecuteNonQueryAsync(CancellationToken.None);
        }

        LogBuilt(command.JobId, name);
        await run.Events.Publish(new IndexBuilt(command.JobId, name, DateTimeOffset.UtcNow, command.Attempt), cancellationToken);
        return JobOutcome.Done;
    }

    /// <summary>An index build cancelled before it started has nothing to undo: the cancel ended it.</summary>
    public Task<JobOutcome> StopAsync(JobRun<BuildIndex> run, CancellationToken cancellationToken) => Task.FromResult(JobOutcome.Done);

    /// <summary>
    /// Drops what an earlier build of the index left, builds it, and checks it is the job's and valid.
    /// Null when it is; otherwise the job's failure. Runs under the lock timeout: a drop that waits it
    /// out in a failure path is deferred to the next build, which drops it first.
    /// </summary>
    private async Task<JobOutcome?> BuildAsync(JobRun<BuildIndex> run, DatasetDefinition dataset, Target target,
        CancellationToken cancellationToken)
    {
        var command = run.Command;
        var connection = run.Connection;
        try
        {
            await DropInvalidAsync(connection, target, cancellationToken);
            await CreateAsync(run, DatasetIndex.CreateSql(command.TenantId, dataset.Name, command.Columns, concurrently: true),
                cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == LockNotAvailable)
        {
            await TryDropAsync(connection, target, onlyInvalid: true);
            return await FailAsync(run, "table_busy",
                $"The build waited longer than {options.Value.LockTimeout.TotalSeconds:0} s (IndexBuilds:LockTimeout) for a lock on " +
                $"dataset '{dataset.Name}' or for transactions older than it to end; retry the job when the table is quieter.",
                cancellationToken);
        }
        catch (PostgresException e) when (!e.IsTransient)
        {
            await TryDropAsync(connection, target, onlyInvalid: true);
            return await FailAsync(run, "build_failed", $"PostgreSQL could not build the index: {e.MessageText}", cancellationToken);
        }
        catch (Exception e) when (e is OperationCanceledException or NpgsqlException)
        {
            // Cancelled, or the server went away: what the build left is dropped here when it can be,
            // and in any case by the next run before it builds again.
            await TryDropAsync(connection, target, onlyInvalid: true);
            throw;
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
            default:
                return null;
        }
    }

    /// <summary>The job's lock timeout, and no statement timeout (a large table takes minutes), on its connection.</summary>
    private async Task SetTimeoutsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var lockTimeout = ((long)options.Value.LockTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        await using var set = new NpgsqlCommand(
            "select set_config('lock_timeout', @lock_timeout, false), set_config('statement_timeout', '0', false)", connection);
        set.Parameters.AddWithValue("lock_timeout", lockTimeout);
        await set.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Runs the DDL on the job's connection, while another connection reads PostgreSQL's progress of it.</summary>
    private async Task CreateAsync(JobRun<BuildIndex> run, string sql, CancellationToken cancellationToken)
    {
        using var reporting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reporter = ReportAsync(run, run.Connection.ProcessID, reporting.Token);
        try
        {
            await using var create = new NpgsqlCommand(sql, run.Connection) { CommandTimeout = 0 };
            await create.ExecuteNonQueryAsync(cancellationToken);
        }
        finally
        {
            await reporting.CancelAsync();
            await reporter;
        }
    }

    /// <summary>Publishes the build's phase and counts about once a second; a cancel seen here stops the build.</summary>
    private async Task ReportAsync(JobRun<BuildIndex> run, int pid, CancellationToken cancellationToken)
    {
        try
        {
            using var timer = new PeriodicTimer(options.Value.ProgressInterval);
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (await run.IsCancelledAsync(cancellationToken))
                {
                    await run.StopAsync();
                    return;
                }

                await using var command = dataSource.CreateCommand(ProgressSql);
                command.Parameters.AddWithValue("pid", pid);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    await run.Events.Publish(new IndexBuildProgressed(run.Command.JobId, reader.GetString(0), reader.GetInt64(1),
                        reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4), DateTimeOffset.UtcNow, run.Command.Attempt), cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The build ended: so does its report.
        }
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

    [LoggerMessage(LogLevel.Warning, "Dropping the index {Schema}.{Name} a failed or interrupted build left")]
    private partial void LogDroppingInvalid(string schema, string name);

    [LoggerMessage(LogLevel.Warning, "The index {Name} could not be dropped now ({Reason}); the next build of it drops it first if invalid")]
    private partial void LogDropDeferred(string name, string reason);

    [LoggerMessage(LogLevel.Warning, "Index build {JobId} failed ({Code}): {Message}")]
    private partial void LogFailed(Guid jobId, string code, string message);
}
