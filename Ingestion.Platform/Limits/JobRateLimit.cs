using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Platform.Limits;

/// <summary>A tenant is at its limit: the next job fits in <paramref name="RetryAfter"/>.</summary>
public sealed record OverLimit(int JobsPerHour, TimeSpan RetryAfter);

/// <summary>
/// <c>Limits:JobsPerHour</c>, a sliding window over the last hour counted from
/// <c>ingestion.jobs</c> itself: durable, and the same for every API instance. The API asks
/// before it reads a request's body; <see cref="Jobs.JobStore.CreateAsync"/> asks again under
/// a per-tenant lock in the transaction that inserts the job, so racing requests cannot
/// slip past the limit together.
/// </summary>
public sealed class JobRateLimit(NpgsqlDataSource dataSource, IOptions<LimitOptions> options)
{
    /// <summary>
    /// When the job <c>@skip</c> places behind the newest leaves the window: with <c>@skip</c>
    /// = limit − 1 that is when one more job fits. No row: there is room now. Reads at most
    /// <c>@skip</c> + 1 entries of the <c>(tenant_id, created_at desc)</c> index.
    /// </summary>
    private const string WindowSql = """
        select created_at + interval '1 hour' - now() from ingestion.jobs
        where tenant_id = @tenant and created_at > now() - interval '1 hour'
        order by created_at desc offset @skip limit 1
        """;

    private const string LockSql = "select pg_advisory_xact_lock(hashtext('ingestion.jobs-per-hour'), hashtext(@tenant))";

    public int JobsPerHour => options.Value.JobsPerHour;

    /// <summary>Null when the tenant may create a job now.</summary>
    public async Task<OverLimit?> CheckAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await WaitAsync(connection, tenantId, JobsPerHour - 1, cancellationToken) is { } wait
            ? new OverLimit(JobsPerHour, wait)
            : null;
    }

    /// <summary>
    /// Serializes the creation of the tenant's jobs until the caller's transaction ends, so
    /// that what <see cref="IsOverAsync"/> counts next is still true at commit.
    /// </summary>
    internal static async Task LockAsync(NpgsqlConnection connection, string tenantId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(LockSql, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Whether the tenant has more than <paramref name="jobsPerHour"/> jobs in the window, a just-inserted one included.</summary>
    internal static async Task<bool> IsOverAsync(NpgsqlConnection connection, string tenantId, int jobsPerHour,
        CancellationToken cancellationToken) =>
        await WaitAsync(connection, tenantId, jobsPerHour, cancellationToken) is not null;

    private static async Task<TimeSpan?> WaitAsync(NpgsqlConnection connection, string tenantId, int skip,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(WindowSql, connection);
        command.Parameters.AddWithValue("tenant", tenantId);
        command.Parameters.AddWithValue("skip", skip);
        var wait = await command.ExecuteScalarAsync(cancellationToken);
        return wait is TimeSpan span ? (span > TimeSpan.Zero ? span : TimeSpan.Zero) : null;
    }
}
