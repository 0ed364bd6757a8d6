using System.Text.Json;
using Ingestion.Platform.Jobs;
using Npgsql;

namespace Ingestion.Api.Ops;

/// <summary>One failed job of a group, as an operator triages it.</summary>
public sealed record FailedJob(Guid JobId, string Kind, string TenantId, string? Dataset, DateTimeOffset FailedAt, string Message,
    string Code = "");

/// <summary>
/// Failed jobs that share a cause: the same kind, error code (the exception's type, or the
/// worker's own code) and message once the values that differ from job to job are replaced by
/// placeholders. <see cref="Jobs"/> holds the most recent of them, not necessarily all.
/// </summary>
public sealed record FailureGroup(
    string GroupId,
    string Kind,
    string Code,
    string Message,
    long Count,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen,
    IReadOnlyList<string> Tenants,
    IReadOnlyList<FailedJob> Jobs)
{
    public IReadOnlyDictionary<string, string> Links => new Dictionary<string, string>
    {
        ["self"] = OpsApi.FailureUrl(GroupId),
        ["retry"] = OpsApi.FailureUrl(GroupId) + "/retry",
        ["archive"] = OpsApi.FailureUrl(GroupId) + "/archive",
    };
}

/// <summary>Where a page of a group's jobs ends: the next page starts after this job.</summary>
public sealed record FailureCursor(DateTimeOffset FailedAt, Guid JobId);

/// <summary>
/// Failed jobs across tenants grouped by cause, in PostgreSQL: the normalising and grouping
/// happen in one query over the <c>jobs_state</c> index, so the API never loads every failed job.
/// Archived failures (<c>ingestion.archived_failures</c>) are left out until the job fails again.
/// </summary>
public sealed class FailureGroups(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Every failed, unarchived job with its group. The message is normalised in order: uuids,
    /// quoted values, hex (0x… or 8+ hex digits with a digit and a letter), then numbers
    /// (counts, lines, columns, offsets) that start a word, so <c>P0001</c> or a
    /// table name keeps its digits. The group id hashes kind, code and normalised message.
    /// </summary>
    private const string FailedJobs = """
        with failed as (
            select j.job_id, j.kind, j.tenant_id, j.dataset,
                   coalesce(j.data->'error'->>'code', 'unknown') as code,
                   coalesce(j.data->'error'->>'message', '') as message,
                   coalesce((j.data->'error'->>'at')::timestamptz, j.updated_at) as failed_at
            from ingestion.jobs j
            where j.current_state = 'Failed'
        ), normalised as (
            select f.*,
                   regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(f.message,
                       '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '{uuid}', 'gi'),
                       '''[^'']*''|"[^"]*"', '{value}', 'g'),
                       '\m0x[0-9a-f]+\M|\m(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\M', '{hex}', 'gi'),
                       '\m\d+(\.\d+)?', '{n}', 'g'),
                       '\s+', ' ', 'g') as pattern
            from failed f
            where not exists (select 1 from ingestion.archived_failures a where a.job_id = f.job_id and a.failed_at = f.failed_at)
        ), grouped as (
            select n.*, left(md5(n.kind || chr(10) || n.code || chr(10) || n.pattern), 16) as group_id
            from normalised n
        )
        """;

    private const string GroupsSql = FailedJobs + """
        , ranked as (
            select g.*, row_number() over (partition by g.group_id order by g.failed_at desc, g.job_id desc) as rank
            from grouped g
            where @group::text is null or g.group_id = @group
        )
        select group_id, kind, code, pattern, count(*), min(failed_at), max(failed_at),
               array_agg(distinct tenant_id order by tenant_id),
               coalesce(jsonb_agg(jsonb_build_object('jobId', job_id, 'kind', kind, 'tenantId', tenant_id, 'dataset', dataset,
                   'failedAt', failed_at, 'message', message, 'code', code) order by rank) filter (where rank <= @per_group), '[]')::text
        from ranked
        group by group_id, kind, code, pattern
        order by max(failed_at) desc, group_id
        """;

    private const string JobsSql = FailedJobs + """
        select job_id, kind, tenant_id, dataset, failed_at, message, code from grouped
        where (@group::text is null or group_id = @group)
          and (@after_at::timestamptz is null or (failed_at, job_id) < (@after_at, @after_id))
        order by failed_at desc, job_id desc
        limit @limit
        """;

    private const string ArchiveSql = """
        insert into ingestion.archived_failures (job_id, failed_at, archived_by) values (@job, @failed_at, @actor)
        on conflict do nothing
        """;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Every group, most recently seen first, each with its <paramref name="jobsPerGroup"/> latest jobs.</summary>
    public async Task<IReadOnlyList<FailureGroup>> ListAsync(int jobsPerGroup, CancellationToken cancellationToken) =>
        await GroupsAsync(null, jobsPerGroup, cancellationToken);

    /// <summary>The group without its jobs (page them with <see cref="JobsAsync"/>), or null when no unarchived failure has this cause.</summary>
    public async Task<FailureGroup?> FindAsync(string groupId, CancellationToken cancellationToken) =>
        (await GroupsAsync(groupId, 0, cancellationToken)).SingleOrDefault();

    /// <summary>A page of failed jobs, newest failure first: of one group, or of all when <paramref name="groupId"/> is null.</summary>
    public async Task<IReadOnlyList<FailedJob>> JobsAsync(string? groupId, FailureCursor? after, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(JobsSql);
        command.Parameters.AddWithValue("group", (object?)groupId ?? DBNull.Value);
        command.Parameters.AddWithValue("after_at", (object?)after?.FailedAt ?? DBNull.Value);
        command.Parameters.AddWithValue("after_id", after?.JobId ?? Guid.Empty);
        command.Parameters.AddWithValue("limit", limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var jobs = new List<FailedJob>();
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(new FailedJob(reader.GetGuid(0), reader.GetString(1), reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4), reader.GetString(5),
                reader.GetString(6)));
        }

        return jobs;
    }

    /// <summary>
    /// Takes the jobs out of their group until they fail again: each archive is recorded in the
    /// job's audit trail with the operator, in the same transaction. Returns the jobs archived.
    /// </summary>
    public async Task<IReadOnlyList<Guid>> ArchiveAsync(IReadOnlyList<FailedJob> jobs, string actor, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var archived = new List<Guid>();
        foreach (var job in jobs)
        {
            await using var insert = new NpgsqlCommand(ArchiveSql, connection, transaction);
            insert.Parameters.AddWithValue("job", job.JobId);
            insert.Parameters.AddWithValue("failed_at", job.FailedAt);
            insert.Parameters.AddWithValue("actor", actor);
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                await JobHistory.ActionAsync(connection, job.JobId, "ArchiveFailure", actor, cancellationToken);
                archived.Add(job.JobId);
            }
        }

        await transaction.CommitAsync(cancellationToken);
        return archived;
    }

    private async Task<List<FailureGroup>> GroupsAsync(string? groupId, int jobsPerGroup, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(GroupsSql);
        command.Parameters.AddWithValue("group", (object?)groupId ?? DBNull.Value);
        command.Parameters.AddWithValue("per_group", jobsPerGroup);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var groups = new List<FailureGroup>();
        while (await reader.ReadAsync(cancellationToken))
        {
            groups.Add(new FailureGroup(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetInt64(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6),
                reader.GetFieldValue<string[]>(7), JsonSerializer.Deserialize<List<FailedJob>>(reader.GetString(8), Json) ?? []));
        }

        return groups;
    }
}
