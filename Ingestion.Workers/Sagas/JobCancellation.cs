using Ingestion.Platform.Jobs;
using Npgsql;

namespace Ingestion.Workers.Sagas;

/// <summary>
/// Whether a job's state machine has recorded a cancel. Workers ask at their boundaries
/// (before starting, after each committed batch, every few pages): the cancel is a state
/// in PostgreSQL, so it reaches whichever worker holds the job, and costs one key lookup.
/// </summary>
public sealed class JobCancellation(NpgsqlDataSource dataSource)
{
    private const string Sql = "select current_state = @cancelled from ingestion.jobs where job_id = @job";

    public async Task<bool> IsCancelledAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Sql);
        command.Parameters.AddWithValue("job", jobId);
        command.Parameters.AddWithValue("cancelled", UploadJob.States.Cancelled);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }
}
