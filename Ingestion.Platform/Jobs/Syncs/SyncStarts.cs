using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Messaging;
using Npgsql;

namespace Ingestion.Platform.Jobs;

/// <summary>What became of a request to start a sync: created (or refused by the job layer), or another sync of the source is not done.</summary>
public sealed record SyncStart(JobCreation? Creation, Guid? Running);

/// <summary>
/// Starts a sync job unless one of the same source is still queued or syncing: two syncs of one
/// source would fetch the same pages twice on the same budget and race on its watermark. Every
/// start (the API's and the schedules') checks and creates under one advisory lock per source, so
/// a job another host committed meanwhile is seen.
/// </summary>
public static class SyncStarts
{
    private const string LockSql = "select pg_advisory_lock(hashtextextended('ingestion.sync-start:' || @tenant || ':' || @source, 0))";

    private const string UnlockSql = "select pg_advisory_unlock(hashtextextended('ingestion.sync-start:' || @tenant || ':' || @source, 0))";

    private const string RunningSql = """
        select job_id from ingestion.jobs
        where tenant_id = @tenant and kind = @kind and current_state = any(@states) and data ->> 'source' = @source
        order by created_at limit 1
        """;

    public static async Task<SyncStart> StartAsync(NpgsqlDataSource dataSource, JobStore jobs, SyncJob job, SubmitSync command,
        string actor, int? jobsPerHour, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await RunAsync(connection, LockSql, job, cancellationToken);
        try
        {
            await using (var running = new NpgsqlCommand(RunningSql, connection))
            {
                running.Parameters.AddWithValue("tenant", job.TenantId);
                running.Parameters.AddWithValue("kind", SyncJob.Descriptor.Name);
                running.Parameters.AddWithValue("states", new[] { SyncJob.Descriptor.Queued, SyncJob.Descriptor.Running });
                running.Parameters.AddWithValue("source", job.Source);
                if (await running.ExecuteScalarAsync(cancellationToken) is Guid other)
                {
                    return new SyncStart(null, other);
                }
            }

            return new SyncStart(await jobs.CreateAsync(job, command, Queues.Address(Queues.SyncJobs), actor, jobsPerHour, cancellationToken),
                null);
        }
        finally
        {
            await RunAsync(connection, UnlockSql, job, CancellationToken.None);
        }
    }

    private static async Task RunAsync(NpgsqlConnection connection, string sql, SyncJob job, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("tenant", job.TenantId);
        command.Parameters.AddWithValue("source", job.Source);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
