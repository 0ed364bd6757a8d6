using System.Globalization;
using System.Text.Json;
using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Sources;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// Starts the syncs of sources that carry a schedule. Nothing of it is in a process's memory: each
/// firing is a sync job whose <c>Idempotency-Key</c> names the source and the period's slot
/// (<c>schedule:{source}:{slot}</c>, the slot being the Unix time divided by the period), so the
/// unique index on the tenant's keys lets one worker create it however many look at once, and a
/// restart neither fires a slot again nor forgets one that is due. A slot in which a sync of the
/// source is still queued or running does not fire (schedules never overlap): <see cref="SyncStarts"/>
/// checks and creates under an advisory lock per source, so a sync committed by another worker or
/// the API meanwhile is seen. Slots are aligned on the epoch: every 15 minutes is :00, :15, :30, :45.
/// </summary>
public sealed partial class SyncScheduler(
    NpgsqlDataSource dataSource,
    JobStore jobs,
    IOptions<SyncOptions> options,
    ILogger<SyncScheduler> logger) : BackgroundService
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string ScheduledSql = """
        select tenant_id, definition::text from ingestion.sources
        where jsonb_typeof(definition -> 'schedule') = 'object'
        """;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SchedulePeriod);
        do
        {
            try
            {
                await FireDueAsync(DateTimeOffset.UtcNow, stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                // PostgreSQL away: the slot is still due at the next tick (the key makes a late firing the same job).
                LogUnavailable(e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>Fires every schedule whose current slot has no sync yet. Returns the jobs it created.</summary>
    public async Task<int> FireDueAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var due = new List<(string Tenant, SourceDefinition Source)>();
        await using (var command = dataSource.CreateCommand(ScheduledSql))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                if (JsonSerializer.Deserialize<SourceDefinition>(reader.GetString(1), Json) is { Schedule.EveryMinutes: > 0 } source)
                {
                    due.Add((reader.GetString(0), source));
                }
            }
        }

        var fired = 0;
        foreach (var (tenant, source) in due)
        {
            fired += await FireAsync(tenant, source, now, cancellationToken) ? 1 : 0;
        }

        return fired;
    }

    private async Task<bool> FireAsync(string tenantId, SourceDefinition source, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var schedule = source.Schedule!;
        var slot = now.ToUnixTimeMilliseconds() / (schedule.EveryMinutes * (long)options.Value.ScheduleMinute.TotalMilliseconds);
        var key = $"schedule:{source.Name}:{slot.ToString(CultureInfo.InvariantCulture)}";
        if (await jobs.FindByIdempotencyKeyAsync(tenantId, key, cancellationToken) is not null)
        {
            return false;
        }

        var mode = schedule.Mode == SyncMode.Incremental && source.Incremental is not null ? "incremental" : "full";
        var job = new SyncJob
        {
            CorrelationId = MassTransit.NewId.NextGuid(),
            CurrentState = SyncJob.States.Queued,
            TenantId = tenantId,
            IdempotencyKey = key,
            CreatedAt = now,
            UpdatedAt = now,
            Source = source.Name,
            TargetDataset = source.Dataset,
            Mode = mode,
        };
        var submit = new SubmitSync(job.CorrelationId, tenantId, source.Name, mode);
        var start = await SyncStarts.StartAsync(jobs, job, submit, "schedule", null, cancellationToken);
        if (start.Running is not null)
        {
            // Another worker may have fired this very slot since the look above: only a sync of an earlier slot is an overlap.
            if (await jobs.FindByIdempotencyKeyAsync(tenantId, key, cancellationToken) is null)
            {
                LogOverlap(tenantId, source.Name, slot);
            }

            return false;
        }

        if (start.Creation == JobCreation.Created)
        {
            LogFired(tenantId, source.Name, slot, job.CorrelationId);
        }

        return start.Creation == JobCreation.Created;
    }

    [LoggerMessage(LogLevel.Information, "Schedule of source {Source} (tenant {TenantId}) fired slot {Slot}: sync {JobId}")]
    private partial void LogFired(string tenantId, string source, long slot, Guid jobId);

    [LoggerMessage(LogLevel.Information, "Schedule of source {Source} (tenant {TenantId}) skips slot {Slot}: a sync of it is still running")]
    private partial void LogOverlap(string tenantId, string source, long slot);

    [LoggerMessage(LogLevel.Warning, "Schedules not checked: {Reason}; trying again at the next tick")]
    private partial void LogUnavailable(string reason);
}
