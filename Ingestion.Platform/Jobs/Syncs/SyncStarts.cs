using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Messaging;
using Npgsql;

namespace Ingestion.Platform.Jobs;

/// <summary>What became of a request to start a sync: created (or refused by the job layer), or another sync of the source is not done.</summary>
public sealed record SyncStart(JobCreation? Creation, Guid? Running);

/// <summary>
/// Starts a sync job unless one of the same source is still queued or syncing: two syncs of one
/// source would fetch the same pages twice on the same budget and race on its watermark. Every
/// start (the API's and the schedules') checks and creates in one transaction under a
/// transaction-scoped advisory lock per source, so a job another host committed meanwhile is seen,
/// and the lock holder needs no second connection to insert (a burst of starts for one source
/// holds one pooled connection per waiter).
/// </summary>
public static class SyncStarts
{
    private const string LockSql = "select pg_advisory_xact_lock(hashtextextended('ingestion.sync-start:' || @tenant || ':' || @source, 0))";

    private const string RunningSql = """
        select job_id from ingestion.jobs
        where tenant_id = @tenant and kind = @kind and current_state = any(@states) and data ->> 'source' = @source
        order by created_at limit 1
        """;

    public static async Task<SyncStart> StartAsync(JobStore jobs, SyncJob job, SubmitSync command,
        string actor, int? jobsPerHour, CancellationToken cancellationToken)
    {
        Guid? running = null;
        var creation = await jobs.CreateAsync(job, command, Queues.Address(Queues.SyncJobs), actor, jobsPerHour,
            async (connection, token) =>
            {
                await using (var locking = new NpgsqlCommand(LockSql, connection))
                {
                    locking.Parameters.AddWithValue("tenant", job.TenantId);
                    locking.Parameters.AddWithValue("source", job.Source);
                    await locking.ExecuteNonQueryAsync(token);
                }

                await using var check = new NpgsqlCommand(RunningSql, connection);
                check.Parameters.AddWithValue("tenant", job.TenantId);
                check.Parameters.AddWithValue("kind", SyncJob.Descriptor.Name);
                check.Parameters.AddWithValue("states", new[] { SyncJob.Descriptor.Queued, SyncJob.Descriptor.Running });
                check.Parameters.AddWithValue("source", job.Source);
                running = await check.ExecuteScalarAsync(token) as Guid?;
                return running is null;
            },
            cancellationToken);
        return creation == JobCreation.Declined ? new SyncStart(null, running) : new SyncStart(creation, null);
    }
}
