using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Workers.Retention;
using Ingestion.Workers.Sagas;
using Ingestion.Workers.StateMachines;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Reaper;

/// <summary>
/// Finds jobs that are owed work but have stopped moving, and sends their work again. A worker
/// acknowledges a message whose job is locked by another, trusting the holder to carry the job
/// on; if the holder then loses its message and dies (its broker connection dropped while its
/// PostgreSQL session lived, so RabbitMQ redelivered to a worker that stepped aside), nothing is
/// left to carry it. Once per <c>Reaper:Period</c> across every worker: an unfinished job with no
/// change or heartbeat for <c>Reaper:StaleAfter</c>, whose lock nobody holds, gets its work
/// command in the outbox again, with an audit row (actor <c>reaper</c>) and a heartbeat so it is
/// not sent again before another <c>StaleAfter</c>. A copy too many is harmless: the job's lock
/// lets one worker at a time work, and a finished job's command does nothing. A job with a command
/// still in the outbox is left alone (migration 0039 indexes the lookup): its work is already on its
/// way, refused by RabbitMQ until a worker of its kind declares its queues (<see cref="Jobs.WorkerJobs"/>),
/// or set for a time, as a parked sync's next turn; a copy would wait behind it, or start that turn early.
/// </summary>
public sealed partial class JobReaper(
    NpgsqlDataSource dataSource,
    IEnumerable<JobWork> kinds,
    IOptions<ReaperOptions> options,
    ILogger<JobReaper> logger) : PeriodicMaintenance(dataSource, "reaper", logger)
{
    public const string Actor = "reaper";

    /// <summary>Rows locked SKIP LOCKED: a job whose saga is running now is busy, not stranded.</summary>
    private const string StaleSql = $"""
        select {JobRows.Columns} from ingestion.jobs
        where kind = @kind and current_state = any(@states)
          and greatest(updated_at, heartbeat_at) < now() - @stale
          and not exists (select 1 from ingestion.outbox o where o.destination is not null and o.body->>'jobId' = jobs.job_id::text)
        order by greatest(updated_at, heartbeat_at)
        limit @limit
        for update skip locked
        """;

    protected override TimeSpan Period => options.Value.Period;

    protected override async Task RunAsync(DateTimeOffset runAt, CancellationToken cancellationToken)
    {
        foreach (var work in kinds)
        {
            await ReapAsync(work, cancellationToken);
        }
    }

    private async Task ReapAsync(JobWork work, CancellationToken cancellationToken)
    {
        await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var stale = new List<JobState>();
        await using (var select = new NpgsqlCommand(StaleSql, connection, transaction))
        {
            select.Parameters.AddWithValue("kind", work.Kind);
            select.Parameters.AddWithValue("states", work.WorkingStates.ToArray());
            select.Parameters.AddWithValue("stale", options.Value.StaleAfter);
            select.Parameters.AddWithValue("limit", options.Value.BatchSize);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                stale.Add(JobRows.Read(reader));
            }
        }

        var resent = 0;
        foreach (var job in stale)
        {
            // Held: a worker is at it (a long batch, say) and its connection, so the lock, is alive.
            // That is proof of life: the beat moves the job behind the others, so that a run's batch
            // never fills up with busy jobs while a stranded one waits behind them.
            var held = !await JobLock.TryTakeAsync(connection, job.CorrelationId, cancellationToken);
            if (!held)
            {
                await JobLock.ReleaseAsync(connection, job.CorrelationId, Logger);
                await work.SendAsync(connection, job, cancellationToken);
                await JobHistory.ActionAsync(connection, job.CorrelationId, work.CommandName, Actor, cancellationToken);
            }

            await JobHeartbeat.BeatAsync(connection, job.CorrelationId, cancellationToken, transaction);

            if (held)
            {
                continue;
            }

            LogResent(Logger, job.CorrelationId, job.Kind, job.CurrentState, job.UpdatedAt, work.CommandName);
            resent++;
        }

        await transaction.CommitAsync(cancellationToken);
        Telemetry.JobsReaped.WithLabels(work.Kind).Inc(resent);
    }

    [LoggerMessage(LogLevel.Warning, "Job {JobId} ({Kind}, {State}) has not moved since {UpdatedAt:O} and nobody holds it: {Command} sent again")]
    private static partial void LogResent(ILogger logger, Guid jobId, string kind, string state, DateTimeOffset updatedAt, string command);
}
