using Npgsql;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// Shows the reaper that a job's work is alive when nothing else does: a slice that took the
/// job's lock, or a job that waits its turn for a tenant slot (it goes round the queue without
/// changing the job). Progress events keep a running job fresh through its state machine.
/// </summary>
internal static class JobHeartbeat
{
    private const string Sql = "update ingestion.jobs set heartbeat_at = now() where job_id = @job";

    public static async Task BeatAsync(NpgsqlConnection connection, Guid jobId, CancellationToken cancellationToken,
        NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(Sql, connection, transaction);
        command.Parameters.AddWithValue("job", jobId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
