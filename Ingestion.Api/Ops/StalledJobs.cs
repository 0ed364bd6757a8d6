using Ingestion.Platform.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Ingestion.Api.Ops;

/// <summary>
/// What the reaper (Workers/Reaper) watches, for the on-call engineer: unfinished jobs that have
/// not moved (no change, no heartbeat) for a while, and the jobs the reaper re-drove, newest first,
/// with where each stands now. Read-only; the reaper itself decides what to send again.
/// </summary>
public static class StalledJobs
{
    /// <summary>The reaper's actor in the audit trail (<c>JobReaper.Actor</c>, which this host does not reference).</summary>
    private const string ReaperActor = "reaper";

    private const int DefaultLimit = 20;
    private const int MaxLimit = 200;

    /// <summary>The reaper's default <c>Reaper:StaleAfter</c>: a job this quiet is one it would re-drive.</summary>
    private static readonly TimeSpan DefaultQuietFor = TimeSpan.FromMinutes(5);

    /// <summary>The states of unfinished jobs, named rather than "not final" so that jobs_state (current_state, updated_at) serves the query.</summary>
    private static readonly string[] Working = JobKinds.States.Except(JobKinds.FinalStates).ToArray();

    private const string StalledSql = """
        select job_id, kind, tenant_id, current_state, dataset, greatest(updated_at, heartbeat_at) as last_moved
        from ingestion.jobs
        where current_state = any(@working) and greatest(updated_at, heartbeat_at) < now() - @quiet
        order by last_moved
        limit @limit
        """;

    // job_events_reaper (migration 0023) holds only the reaper's rows, so this reads no other history.
    private const string ReapedSql = """
        select e.job_id, e.at, e.what, j.kind, j.tenant_id, j.current_state
        from ingestion.job_events e left join ingestion.jobs j on j.job_id = e.job_id
        where e.actor = @actor
        order by e.id desc
        limit @limit
        """;

    /// <param name="LastMoved">Its last change or heartbeat.</param>
    public sealed record StalledJob(Guid JobId, string Kind, string TenantId, string Status, string? Dataset, DateTimeOffset LastMoved);

    /// <param name="What">The command the reaper sent again.</param>
    /// <param name="Status">Where the job stands now; null once retention removed it.</param>
    public sealed record ReapedJob(Guid JobId, DateTimeOffset At, string What, string? Kind, string? TenantId, string? Status);

    /// <param name="QuietSeconds">How long a job had not moved to be listed as stalled.</param>
    public sealed record StalledView(int QuietSeconds, IReadOnlyList<StalledJob> Stalled, IReadOnlyList<ReapedJob> Reaped);

    /// <summary>Stalled jobs (quiet for <paramref name="quietSeconds"/>, the reaper's default 300) and the reaper's latest re-drives.</summary>
    public static async Task<Results<Ok<StalledView>, ProblemHttpResult>> List(NpgsqlDataSource dataSource, int? quietSeconds, int? limit,
        CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxLimit || quietSeconds is < 1)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid query",
                detail: $"limit must be between 1 and {MaxLimit}, quietSeconds 1 or more.");
        }

        var quiet = quietSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : DefaultQuietFor;
        var size = limit ?? DefaultLimit;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var stalled = new List<StalledJob>();
        await using (var command = new NpgsqlCommand(StalledSql, connection))
        {
            command.Parameters.AddWithValue("working", Working);
            command.Parameters.AddWithValue("quiet", quiet);
            command.Parameters.AddWithValue("limit", size);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                stalled.Add(new StalledJob(reader.GetGuid(0), reader.GetString(1), reader.GetString(2), reader.GetString(3).ToLowerInvariant(),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetFieldValue<DateTimeOffset>(5)));
            }
        }

        var reaped = new List<ReapedJob>();
        await using (var command = new NpgsqlCommand(ReapedSql, connection))
        {
            command.Parameters.AddWithValue("actor", ReaperActor);
            command.Parameters.AddWithValue("limit", size);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                reaped.Add(new ReapedJob(reader.GetGuid(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5).ToLowerInvariant()));
            }
        }

        return TypedResults.Ok(new StalledView((int)quiet.TotalSeconds, stalled, reaped));
    }
}
