using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Indexes;

/// <summary>
/// The index builds this worker runs, each on a PostgreSQL session of its own that outlives the
/// message that started it: a build of a large table can take longer than RabbitMQ lets a consumer
/// hold a message (30 minutes), and a message held past that is redelivered and would start a second
/// build. The session is recorded in <c>ingestion.index_build_sessions</c> (migration 0028) before the
/// build starts, so the job's next turn, on any worker, can tell a build that runs from one whose
/// worker died.
/// <para>
/// Each session sets <c>client_connection_check_interval</c>: PostgreSQL notices a vanished worker
/// within a second and aborts its build, even in the middle of a sort or a wait for old transactions,
/// instead of building on for a client that is gone while the next turn starts another.
/// </para>
/// <para>
/// The sessions come from a data source of their own without pooling, so a build's backend ends with its build:
/// a pooled backend would go on to serve other work (another tenant's) under the recorded (pid, backend_start),
/// and a later cancel, or a check that the build still runs, would act on that work instead.
/// </para>
/// </summary>
public sealed partial class IndexBuildSessions(IConfiguration configuration, IOptions<IndexBuildOptions> options,
    ILoggerFactory loggerFactory, ILogger<IndexBuildSessions> logger) : IAsyncDisposable
{
    private const string IdentifySql = "select pg_backend_pid(), backend_start from pg_stat_activity where pid = pg_backend_pid()";

    private const string RecordSql = """
        insert into ingestion.index_build_sessions (job_id, attempt, starts, backend_pid, backend_start)
        values (@job, @attempt, @starts, @pid, @backend_start)
        on conflict (job_id) do update set attempt = excluded.attempt, starts = excluded.starts,
            backend_pid = excluded.backend_pid, backend_start = excluded.backend_start, started_at = now(),
            finished_at = null, error_code = null, error_message = null, stopped_at = null
        """;

    private const string FinishSql = """
        update ingestion.index_build_sessions set finished_at = now(), error_code = @code, error_message = @message
        where job_id = @job and backend_pid = @pid and backend_start = @backend_start
        """;

    /// <summary>Only the build's own record (pid and start): a later start of the job may have replaced it.</summary>
    private const string StoppedSql = """
        update ingestion.index_build_sessions set stopped_at = now()
        where job_id = @job and backend_pid = @pid and backend_start = @backend_start and finished_at is null
        """;

    private readonly ConcurrentDictionary<Guid, Task> _builds = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly NpgsqlDataSource _dataSource = Unpooled(configuration, loggerFactory);

    private static NpgsqlDataSource Unpooled(IConfiguration configuration, ILoggerFactory loggerFactory)
    {
        var builder = new NpgsqlDataSourceBuilder(configuration.GetConnectionString("Postgres"));
        builder.UseLoggerFactory(loggerFactory);
        builder.ConnectionStringBuilder.Pooling = false;
        builder.ConnectionStringBuilder.ApplicationName = "ingestion-index-build";
        return builder.Build();
    }

    /// <summary>Builds running on this worker now.</summary>
    public int Running => _builds.Count;

    /// <summary>Whether this worker runs the job's build now (its CREATE may not have reached the server yet).</summary>
    public bool Runs(Guid jobId) => _builds.ContainsKey(jobId);

    /// <summary>
    /// Waits up to <paramref name="timeout"/>, less when this worker runs the job's build and it ends sooner,
    /// so a build that ends is finished at once rather than at the next tick.
    /// </summary>
    public async Task WaitAsync(Guid jobId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_builds.TryGetValue(jobId, out var build))
        {
            // The build's task never faults (it records how it ended); whichever comes first, the caller reads the record.
            using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(build, Task.Delay(timeout, waiting.Token));
            await waiting.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
            return;
        }

        await Task.Delay(timeout, cancellationToken);
    }

    /// <summary>
    /// Opens the build's session, records it with the job (on <paramref name="jobConnection"/>, which holds the
    /// job's lock), and starts <paramref name="createSql"/> on it in the background. Returns once it is recorded.
    /// </summary>
    public async Task StartAsync(NpgsqlConnection jobConnection, Guid jobId, int attempt, int starts, string createSql,
        CancellationToken cancellationToken)
    {
        var session = await _dataSource.OpenConnectionAsync(cancellationToken);
        BuildSession identity;
        try
        {
            await using (var set = new NpgsqlCommand("""
                select set_config('lock_timeout', @lock_timeout, false), set_config('statement_timeout', '0', false),
                       set_config('client_connection_check_interval', '1000', false)
                """, session))
            {
                set.Parameters.AddWithValue("lock_timeout",
                    ((long)options.Value.LockTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
                await set.ExecuteNonQueryAsync(cancellationToken);
            }

            await using (var identify = new NpgsqlCommand(IdentifySql, session))
            await using (var reader = await identify.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                identity = new BuildSession(reader.GetInt32(0), reader.GetFieldValue<DateTimeOffset>(1));
            }

            await using var record = new NpgsqlCommand(RecordSql, jobConnection);
            record.Parameters.AddWithValue("job", jobId);
            record.Parameters.AddWithValue("attempt", attempt);
            record.Parameters.AddWithValue("starts", starts);
            record.Parameters.AddWithValue("pid", identity.Pid);
            record.Parameters.AddWithValue("backend_start", identity.BackendStart);
            await record.ExecuteNonQueryAsync(cancellationToken);
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }

        LogStarted(jobId, starts, identity.Pid);
        // Listed before it starts: a build that ends at once must not unlist itself before it is listed. It unlists only
        // itself: a later attempt's build of the job may have taken its place (after ending this one).
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _builds[jobId] = ended.Task;
        _ = Task.Run(() => BuildAsync(session, jobId, identity, createSql, ended), CancellationToken.None);
    }

    /// <summary>Runs the build to its end and records how it ended; a lost session records nothing (the next turn sees it gone).</summary>
    private async Task BuildAsync(NpgsqlConnection session, Guid jobId, BuildSession identity, string createSql, TaskCompletionSource ended)
    {
        try
        {
            await using (session)
            {
                string? code = null;
                string? message = null;
                try
                {
                    await using var create = new NpgsqlCommand(createSql, session) { CommandTimeout = 0 };
                    await create.ExecuteNonQueryAsync(_stopping.Token);
                }
                catch (PostgresException e) when (!_stopping.IsCancellationRequested)
                {
                    // Every error the server reports for the CREATE is recorded, transient ones too: Npgsql counts a lock
                    // timeout (55P03) as transient, and it is what makes the job table_busy rather than a lost build.
                    (code, message) = (e.SqlState, e.MessageText);
                }
                catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
                {
                    // The worker stops (a deployment, a scale-in): its build was cancelled on purpose, not lost. Recorded
                    // while the session, and so usually its backend, still lives: a turn elsewhere that finds the backend
                    // gone then also finds the record. Not always: a cancel the server does not act on within Npgsql's
                    // CancellationTimeout breaks the session, and its backend may end before the record is written; that
                    // turn counts the build as lost, a start too many, the safe way.
                    await RecordStoppedAsync(jobId, identity);
                    return;
                }

                await using var finish = new NpgsqlCommand(FinishSql, session);
                finish.Parameters.AddWithValue("job", jobId);
                finish.Parameters.AddWithValue("pid", identity.Pid);
                finish.Parameters.AddWithValue("backend_start", identity.BackendStart);
                finish.Parameters.AddWithValue("code", (object?)code ?? DBNull.Value);
                finish.Parameters.AddWithValue("message", (object?)message ?? DBNull.Value);
                await finish.ExecuteNonQueryAsync(CancellationToken.None);
            }
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException)
        {
            // The server went away or the worker stopped before its stop could be recorded: the build's backend
            // ends with its session, and the job's next turn finds it gone, drops what it left and builds again.
            LogLost(jobId, e.Message);
        }
        finally
        {
            _builds.TryRemove(KeyValuePair.Create(jobId, ended.Task));
            ended.SetResult();
        }
    }

    /// <summary>
    /// Records that this worker stopped the build, so the job's next turn starts it again without counting it
    /// against <see cref="IndexBuildOptions.MaxStarts"/>, which bounds builds lost to crashes, not to deployments.
    /// On a connection of its own: the cancelled session may be broken. If the record cannot be written the
    /// build counts as lost, as a killed worker's does.
    /// </summary>
    private async Task RecordStoppedAsync(Guid jobId, BuildSession identity)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(CancellationToken.None);
            await using var stopped = new NpgsqlCommand(StoppedSql, connection);
            stopped.Parameters.AddWithValue("job", jobId);
            stopped.Parameters.AddWithValue("pid", identity.Pid);
            stopped.Parameters.AddWithValue("backend_start", identity.BackendStart);
            await stopped.ExecuteNonQueryAsync(CancellationToken.None);
            LogStopped(jobId);
        }
        catch (NpgsqlException e)
        {
            LogLost(jobId, e.Message);
        }
    }

    /// <summary>Stops the builds of a stopping worker, so none runs on for a process that is gone.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_builds.Values);
        _stopping.Dispose();
        await _dataSource.DisposeAsync();
    }

    [LoggerMessage(LogLevel.Information, "Index build {JobId}: build {Starts} started on PostgreSQL backend {Pid}, outside the job's message")]
    private partial void LogStarted(Guid jobId, int starts, int pid);

    [LoggerMessage(LogLevel.Information, "Index build {JobId}: the worker is stopping and cancelled its build; the job's next turn builds again without counting a start")]
    private partial void LogStopped(Guid jobId);

    [LoggerMessage(LogLevel.Warning, "Index build {JobId}: its session ended before the build did ({Reason}); the job's next turn builds again")]
    private partial void LogLost(Guid jobId, string reason);
}

/// <summary>A PostgreSQL backend: a pid alone may be reused once the backend ends, the pair may not.</summary>
public sealed record BuildSession(int Pid, DateTimeOffset BackendStart);
