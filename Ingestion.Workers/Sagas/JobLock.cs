using Npgsql;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// At most one worker works on a job at a time: a PostgreSQL advisory lock held by the
/// connection that does the work. If the worker dies, its connection and the lock go with it.
/// </summary>
internal static class JobLock
{
    public static async Task<bool> TryTakeAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("select pg_try_advisory_lock(@key)", connection);
        command.Parameters.AddWithValue("key", KeyOf(jobId));
        return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Released explicitly, because a pooled connection would keep the lock until it is
    /// reused. A connection that broke has lost the lock with its session already.
    /// </summary>
    public static async Task ReleaseAsync(NpgsqlConnection connection, Guid jobId, ILogger logger)
    {
        if (connection.FullState != System.Data.ConnectionState.Open)
        {
            return;
        }

        try
        {
            await using var command = new NpgsqlCommand("select pg_advisory_unlock(@key)", connection);
            command.Parameters.AddWithValue("key", KeyOf(jobId));
            await command.ExecuteScalarAsync(CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            logger.LogWarning(e, "Could not release the lock of job {JobId}; it ends with the connection", jobId);
            // Closing alone would park the session, lock and all, in the pool: clearing the pool
            // makes this physical connection close when it goes back, and PostgreSQL release the lock.
            NpgsqlConnection.ClearPool(connection);
            await connection.CloseAsync();
        }
    }

    private static long KeyOf(Guid jobId)
    {
        Span<byte> bytes = stackalloc byte[16];
        jobId.TryWriteBytes(bytes);
        return BitConverter.ToInt64(bytes[..8]) ^ BitConverter.ToInt64(bytes[8..]);
    }
}
