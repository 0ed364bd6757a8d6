using Ingestion.Platform.Jobs;
using Npgsql;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// Where a job's state machine says the job is. Workers ask at their boundaries (before
/// starting, after each committed batch, every few pages): a cancel is a state in PostgreSQL,
/// so it reaches whichever worker holds the job, and costs one key lookup.
/// </summary>
public sealed class JobCancellation(NpgsqlDataSource dataSource)
{
    private const string Sql = "select current_state from ingestion.jobs where job_id = @job";

    private const string CurrentSql =
        "select current_state, coalesce((data->>'attempt')::int, 1) from ingestion.jobs where job_id = @job";

    public async Task<string?> StateAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Sql);
        command.Parameters.AddWithValue("job", jobId);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    /// <summary>The job's state and attempt; a missing job is (null, 0).</summary>
    public async Task<(string? State, int Attempt)> CurrentAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(CurrentSql);
        command.Parameters.AddWithValue("job", jobId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (reader.GetString(0), reader.GetInt32(1)) : (null, 0);
    }

    public async Task<bool> IsCancelledAsync(Guid jobId, CancellationToken cancellationToken) =>
        await StateAsync(jobId, cancellationToken) == UploadJob.States.Cancelled;
}
