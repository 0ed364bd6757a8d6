using Npgsql;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// At most one worker works on a unit of a job at a time: a PostgreSQL advisory lock held by the
/// connection that does the work. If the worker dies, its connection and the lock go with it.
/// Unit 0 is the job as a whole (its key is the job's own); other units (an upload's chunks) have
/// keys of their own, so they can be worked at once.
/// </summary>
internal static class JobLock
{
    public static Task<bool> TryTakeAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken) =>
        TryTakeAsync(connection, jobId, 0, cancellationToken);

    public static async Task<bool> TryTakeAsync(NpgsqlConnection connection, Guid jobId, long unit, CancellationToken cancellationToken)
    {
        // The session that holds the lock checks every second, even mid-statement, that its worker is still there: a worker
        // whose process died loses its lock within a second, not when a long statement ends (a redelivered message waits
        // 5 s for that). A worker whose host vanished sends no FIN: TCP keepalives (10 s idle, 3 probes 5 s apart) end its
        // session within about 25 s rather than the system's two hours, and the reaper carries the job on.
        await using var command = new NpgsqlCommand(
            """
            with checked as (
                select set_config('client_connection_check_interval', '1000', false), set_config('tcp_keepalives_idle', '10', false),
                       set_config('tcp_keepalives_interval', '5', false), set_config('tcp_keepalives_count', '3', false))
            select pg_try_advisory_lock(@key) from checked
            """,
            connection);
        command.Parameters.AddWithValue("key", KeyOf(jobId, unit));
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Released explicitly, because a pooled connection would keep the lock until it is
    /// reused. A connection that broke has lost the lock with its session already.
    /// </summary>
    public static Task ReleaseAsync(NpgsqlConnection connection, Guid jobId, ILogger logger) =>
        ReleaseAsync(connection, jobId, 0, logger);

    /// <inheritdoc cref="ReleaseAsync(NpgsqlConnection, Guid, ILogger)"/>
    public static async Task ReleaseAsync(NpgsqlConnection connection, Guid jobId, long unit, ILogger logger)
    {
        if (connection.FullState != System.Data.ConnectionState.Open)
        {
            return;
        }

        try
        {
            await using var command = new NpgsqlCommand("select pg_advisory_unlock(@key)", connection);
            command.Parameters.AddWithValue("key", KeyOf(jobId, unit));
            await command.ExecuteScalarAsync(CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            logger.LogWarning(e, "Could not release the lock of job {JobId} (unit {Unit}); it ends with the connection", jobId, unit);
            // Closing alone would park the session, lock and all, in the pool: clearing the pool
            // makes this physical connection close when it goes back, and PostgreSQL release the lock.
            NpgsqlConnection.ClearPool(connection);
            await connection.CloseAsync();
        }
    }

    /// <summary>
    /// The advisory lock key of a unit of a job. Unit 0 keeps the job's historical key; another unit's
    /// is mixed in with an odd 64-bit constant (Fibonacci hashing), so the units of one job and of
    /// different jobs do not land on the same key.
    /// </summary>
    internal static long KeyOf(Guid jobId, long unit = 0)
    {
        Span<byte> bytes = stackalloc byte[16];
        jobId.TryWriteBytes(bytes);
        var job = BitConverter.ToInt64(bytes[..8]) ^ BitConverter.ToInt64(bytes[8..]);
        return unit == 0 ? job : job ^ unchecked(unit * (long)0x9E3779B97F4A7C15UL);
    }
}
