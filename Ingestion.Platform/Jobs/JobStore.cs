using Ingestion.Contracts;
using Ingestion.Platform.Limits;
using Npgsql;

namespace Ingestion.Platform.Jobs;

public sealed record JobQuery(
    string? TenantId,
    string? State = null,
    string? Dataset = null,
    string? Kind = null,
    JobCursor? After = null,
    int Limit = 50);

/// <summary>What became of a request to create a job.</summary>
public enum JobCreation
{
    Created,

    /// <summary>The tenant already has a job with the same idempotency key; nothing was written.</summary>
    Duplicate,

    /// <summary>The tenant is at its <c>Limits:JobsPerHour</c>; nothing was written.</summary>
    OverLimit,

    /// <summary>The caller's condition did not hold; nothing was written.</summary>
    Declined,
}

/// <summary>Where a page of jobs ends: the next page starts after this job.</summary>
public sealed record JobCursor(DateTimeOffset CreatedAt, Guid JobId);

/// <summary>
/// Jobs as the API sees them: created with the command that starts them (one
/// transaction, through the outbox), found by id or idempotency key, listed newest first.
/// From creation on, only the job's state machine changes the row.
/// </summary>
public sealed class JobStore(NpgsqlDataSource dataSource)
{
    private const string FindSql = $"select {JobRows.Columns} from ingestion.jobs where job_id = @id";

    private const string FindByKeySql =
        $"select {JobRows.Columns} from ingestion.jobs where tenant_id = @tenant and idempotency_key = @key";

    private const string ListSql = $"""
        select {JobRows.Columns} from ingestion.jobs
        where (@tenant::text is null or tenant_id = @tenant)
          and (@state::text is null or current_state = @state)
          and (@dataset::text is null or dataset = @dataset)
          and (@kind::text is null or kind = @kind)
          and (@after_created::timestamptz is null or (created_at, job_id) < (@after_created, @after_id))
        order by created_at desc, job_id desc
        limit @limit
        """;

    /// <summary>
    /// Inserts the job and records <paramref name="command"/> for the bus in the same
    /// transaction. Nothing is written when the tenant already has a job with the same
    /// idempotency key, or would go over <paramref name="jobsPerHour"/>.
    /// </summary>
    /// <param name="actor">Who asked for the job, for its audit trail.</param>
    /// <param name="jobsPerHour">The tenant's limit; null for a caller that is not limited.</param>
    public Task<JobCreation> CreateAsync<TCommand>(JobState job, TCommand command, Uri destination, string actor,
        int? jobsPerHour, CancellationToken cancellationToken)
        where TCommand : class, IJobMessage =>
        CreateAsync(job, command, destination, actor, jobsPerHour, null, cancellationToken);

    /// <summary>
    /// As above, when <paramref name="condition"/> holds: it runs first, in the creation's transaction
    /// on its connection, so it may take a transaction-scoped lock and look at what is committed, and
    /// what it saw still holds when the job is inserted. False writes nothing (<see cref="JobCreation.Declined"/>).
    /// One connection for both: a check that held one connection while the insert waited for another
    /// would, in a burst of waiters each holding one, leave the holder none.
    /// </summary>
    public async Task<JobCreation> CreateAsync<TCommand>(JobState job, TCommand command, Uri destination, string actor,
        int? jobsPerHour, Func<NpgsqlConnection, CancellationToken, Task<bool>>? condition, CancellationToken cancellationToken)
        where TCommand : class, IJobMessage
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (condition is not null && !await condition(connection, cancellationToken))
        {
            return JobCreation.Declined;
        }

        if (jobsPerHour is not null)
        {
            await JobRateLimit.LockAsync(connection, job.TenantId, cancellationToken);
        }

        // Inserted before it is counted, so that a replay racing its original is a duplicate, not over the limit.
        string stored;
        await using (var insert = new NpgsqlCommand(JobRows.InsertSql, connection, transaction))
        {
            // Versions start at 1, as for jobs the state machines create: 0 is "before anything" to a live client.
            job.Version = Math.Max(job.Version, 1);
            stored = JobRows.Bind(insert, job);
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                return JobCreation.Duplicate;
            }
        }

        if (jobsPerHour is { } limit && await JobRateLimit.IsOverAsync(connection, job.TenantId, limit, cancellationToken))
        {
            await transaction.RollbackAsync(cancellationToken);
            return JobCreation.OverLimit;
        }

        await Outbox.Outbox.AddAsync(connection, command, destination, cancellationToken);
        await JobHistory.CreatedAsync(connection, job, stored, typeof(TCommand).Name, actor, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return JobCreation.Created;
    }

    /// <summary>
    /// Records an operator's command about an existing job, to be sent to <paramref name="destination"/>,
    /// and the request in the job's audit trail.
    /// </summary>
    /// <param name="raised">Reject limits a retry raises, kept on the job in the same transaction.</param>
    public async Task SendAsync<TCommand>(TCommand command, Uri destination, CancellationToken cancellationToken,
        RejectLimits? raised = null)
        where TCommand : class, IJobMessage, Contracts.Jobs.IRequested
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (raised is not null)
        {
            await RejectLimits.RaiseAsync(connection, command.JobId, raised.MaxRows, raised.MaxRatio, cancellationToken);
        }

        await Outbox.Outbox.AddAsync(connection, command, destination, cancellationToken);
        await JobHistory.ActionAsync(connection, command.JobId, typeof(TCommand).Name, command.RequestedBy, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<JobState?> FindAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(FindSql);
        command.Parameters.AddWithValue("id", jobId);
        return await ReadOneAsync(command, cancellationToken);
    }

    public async Task<JobState?> FindByIdempotencyKeyAsync(string tenantId, string key, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(FindByKeySql);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("key", key);
        return await ReadOneAsync(command, cancellationToken);
    }

    public async Task<IReadOnlyList<JobState>> ListAsync(JobQuery query, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(ListSql);
        var p = command.Parameters;
        p.AddWithValue("tenant", (object?)query.TenantId ?? DBNull.Value);
        p.AddWithValue("state", (object?)query.State ?? DBNull.Value);
        p.AddWithValue("dataset", (object?)query.Dataset ?? DBNull.Value);
        p.AddWithValue("kind", (object?)query.Kind ?? DBNull.Value);
        p.AddWithValue("after_created", (object?)query.After?.CreatedAt ?? DBNull.Value);
        p.AddWithValue("after_id", query.After?.JobId ?? Guid.Empty);
        p.AddWithValue("limit", query.Limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var jobs = new List<JobState>();
        while (await reader.ReadAsync(cancellationToken))
        {
            jobs.Add(JobRows.Read(reader));
        }

        return jobs;
    }

    private static async Task<JobState?> ReadOneAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? JobRows.Read(reader) : null;
    }
}
