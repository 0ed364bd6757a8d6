using Ingestion.Platform.Sources;
using Npgsql;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// The rate budget of one credential, shared by every worker through PostgreSQL
/// (<c>ingestion.rate_budgets</c>, <c>ingestion.rate_grants</c>). A request may go only when
/// every policy admits it: the declared ones, and a tighter one the upstream revealed. A policy
/// "R requests in any W seconds" is kept as a sliding log of grants: the request is granted when
/// fewer than R grants are younger than W, and otherwise learns exactly when the oldest of them
/// leaves the window; and a short window's grants are spaced evenly over it (<see cref="Pace"/>),
/// not taken in bursts. Grants are taken under a transaction-scoped advisory lock per budget, so two
/// workers (or twenty) never both take the last permit. What the upstream says (<c>Retry-After</c>,
/// a spent <c>X-RateLimit-Remaining</c>) blocks the whole budget until then. Sources sharing a
/// credential may declare different policies: each request is judged by every policy of every
/// source on the key (<c>rate_policies</c>, written with the source, so a policy lasts as long as its
/// source declares it, however seldom that source syncs), and grants are kept for the longest of
/// their windows. A limit the upstream stopped saying lapses after its window and <see cref="Lapse"/>.
/// Times are PostgreSQL's clock, the one every worker shares.
/// </summary>
public sealed class RateBudget(NpgsqlDataSource dataSource)
{
    /// <summary>
    /// Added to each window: a request granted at t reaches the upstream a little later than t, and
    /// one granted a window later may reach it sooner, so an exact log could look one over there.
    /// </summary>
    public static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(30);

    /// <inheritdoc cref="SourceRateLimit.Lapse"/>
    public static readonly TimeSpan Lapse = SourceRateLimit.Lapse;

    private const string LockSql = "select pg_advisory_xact_lock(hashtextextended('ingestion.budget:' || @key, 0))";

    // Every policy the sources on the key declare now (the caller's run may hold an older definition: its own count too).
    private const string DeclaredSql = """
        select distinct requests, per_seconds from ingestion.rate_policies where budget_key = @key
        """;

    // A learned limit counts until its window and the lapse margin have passed since a response last said it.
    private const string StateSql = """
        select b.blocked_until,
               case when b.learned_at > clock_timestamp() - make_interval(secs => b.learned_seconds) - @lapse then b.learned_requests end,
               b.learned_seconds, clock_timestamp()
        from (select 1) one left join ingestion.rate_budgets b on b.budget_key = @key
        """;

    /// <summary>
    /// The longest spacing between two grants that pacing imposes: a policy whose window over its
    /// requests is longer (5 per minute) keeps its burst, so a small sync does not wait minutes for its first pages.
    /// </summary>
    public static readonly TimeSpan MaxPace = TimeSpan.FromSeconds(1);

    private const string YoungestSql = "select max(at) from ingestion.rate_grants where budget_key = @key";

    private const string NthYoungestSql = """
        select at from ingestion.rate_grants where budget_key = @key and at > @since order by at desc offset @skip limit 1
        """;

    private const string GrantSql = """
        insert into ingestion.rate_grants (budget_key, at) values (@key, @now);
        delete from ingestion.rate_grants where budget_key = @key and at < @forget
        """;

    /// <summary>
    /// Takes one permit: <see cref="TimeSpan.Zero"/> when the request may go now, otherwise how long
    /// until one may be free (nothing is taken then; ask again after it).
    /// </summary>
    public async Task<TimeSpan> TryTakeAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand(LockSql, connection, transaction))
        {
            lockCommand.Parameters.AddWithValue("key", budgetKey);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        var known = new HashSet<RateLimitPolicy>(declared);
        await using (var declare = new NpgsqlCommand(DeclaredSql, connection, transaction))
        {
            declare.Parameters.AddWithValue("key", budgetKey);
            await using var reader = await declare.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                known.Add(new RateLimitPolicy(reader.GetInt32(0), reader.GetInt32(1)));
            }
        }

        DateTimeOffset? blockedUntil;
        RateLimitPolicy? learned;
        DateTimeOffset now;
        await using (var state = new NpgsqlCommand(StateSql, connection, transaction))
        {
            state.Parameters.AddWithValue("key", budgetKey);
            state.Parameters.AddWithValue("lapse", Lapse);
            await using var reader = await state.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            blockedUntil = reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0);
            learned = reader.IsDBNull(1) || reader.IsDBNull(2) ? null : new RateLimitPolicy(reader.GetInt32(1), reader.GetInt32(2));
            now = reader.GetFieldValue<DateTimeOffset>(3);
        }

        if (blockedUntil > now)
        {
            return blockedUntil.Value - now;
        }

        // The strictest known: every policy a source on this key declares (the caller's among them), and the learned one.
        List<RateLimitPolicy> policies = learned is null ? [.. known] : [.. known, learned];
        var wait = TimeSpan.Zero;
        foreach (var policy in policies)
        {
            var window = TimeSpan.FromSeconds(policy.PerSeconds) + Margin;
            await using var nth = new NpgsqlCommand(NthYoungestSql, connection, transaction);
            nth.Parameters.AddWithValue("key", budgetKey);
            nth.Parameters.AddWithValue("since", now - window);
            nth.Parameters.AddWithValue("skip", policy.Requests - 1);
            if (await nth.ExecuteScalarAsync(cancellationToken) is DateTime oldest)
            {
                var free = new DateTimeOffset(oldest, TimeSpan.Zero) + window - now;
                wait = free > wait ? free : wait;
            }
        }

        if (wait > TimeSpan.Zero)
        {
            return wait;
        }

        var pace = Pace(policies);
        if (pace > TimeSpan.Zero)
        {
            await using var youngest = new NpgsqlCommand(YoungestSql, connection, transaction);
            youngest.Parameters.AddWithValue("key", budgetKey);
            if (await youngest.ExecuteScalarAsync(cancellationToken) is DateTime last
                && new DateTimeOffset(last, TimeSpan.Zero) + pace - now is { } early && early > TimeSpan.Zero)
            {
                return early;
            }
        }

        await using (var grant = new NpgsqlCommand(GrantSql, connection, transaction))
        {
            grant.Parameters.AddWithValue("key", budgetKey);
            grant.Parameters.AddWithValue("now", now);
            grant.Parameters.AddWithValue("forget", now - TimeSpan.FromSeconds(policies.Count == 0 ? 0 : policies.Max(p => p.PerSeconds)) - Margin);
            await grant.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return TimeSpan.Zero;
    }

    /// <summary>
    /// Records what a response said: the budget is blocked until <see cref="RateSignal.BlockedUntil"/>
    /// (never shortened by a later, more hopeful answer), and a limit tighter than every declared
    /// policy of the same window becomes a learned policy, so pacing settles below the real limit
    /// instead of meeting it with 429s. The block is stored on PostgreSQL's clock, the one
    /// <see cref="TryTakeAsync"/> compares it with: what the worker keeps is how long from
    /// <paramref name="observedAt"/> (its own clock, when it read the headers) the wait lasts, so a
    /// worker whose clock is off blocks the budget neither too long nor too short.
    /// </summary>
    public async Task ObserveAsync(string budgetKey, IReadOnlyList<RateLimitPolicy> declared, RateSignal signal,
        DateTimeOffset observedAt, CancellationToken cancellationToken)
    {
        var learned = Learned(declared, signal);
        if (signal.BlockedUntil is null && learned is null)
        {
            return;
        }

        TimeSpan? blockedFor = signal.BlockedUntil is { } until ? until - observedAt : null;

        await using var command = dataSource.CreateCommand("""
            insert into ingestion.rate_budgets as b (budget_key, blocked_until, learned_requests, learned_seconds, learned_at)
            values (@key, clock_timestamp() + @blocked_for, @requests, @seconds, case when @requests::int is not null then clock_timestamp() end)
            on conflict (budget_key) do update set
                blocked_until = greatest(b.blocked_until, excluded.blocked_until),
                learned_requests = coalesce(excluded.learned_requests, b.learned_requests),
                learned_seconds = coalesce(excluded.learned_seconds, b.learned_seconds),
                learned_at = coalesce(excluded.learned_at, b.learned_at),
                updated_at = now()
            """);
        command.Parameters.AddWithValue("key", budgetKey);
        command.Parameters.Add(new NpgsqlParameter("blocked_for", NpgsqlTypes.NpgsqlDbType.Interval) { Value = (object?)blockedFor ?? DBNull.Value });
        command.Parameters.AddWithValue("requests", (object?)learned?.Requests ?? DBNull.Value);
        command.Parameters.AddWithValue("seconds", (object?)learned?.PerSeconds ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A limit the upstream revealed that is tighter than what was declared for its window (the
    /// window from <c>RateLimit-Policy</c>, else the shortest declared one).
    /// </summary>
    public static RateLimitPolicy? Learned(IReadOnlyList<RateLimitPolicy> declared, RateSignal signal)
    {
        if (signal.Limit is not { } limit || limit <= 0)
        {
            return null;
        }

        var seconds = signal.WindowSeconds ?? (declared.Count > 0 ? declared.Min(p => p.PerSeconds) : (int?)null);
        if (seconds is not { } window || window <= 0)
        {
            return null;
        }

        var allowed = declared.Where(p => p.PerSeconds == window).Select(p => (int?)p.Requests).Min();
        return allowed is null || limit < allowed ? new RateLimitPolicy(limit, window) : null;
    }

    /// <summary>
    /// The spacing between two grants: a window's permits spread evenly over it (its length and the
    /// margin over its requests), not taken in a burst. A burst sends its requests together, so the
    /// last ones reach the upstream late behind the others while the next burst's first arrives on
    /// time: the gap the margin covers is then spent by the client itself. Evenly spaced, requests
    /// meet no queue of their own, and the rate is the same. Only short spacings (up to
    /// <see cref="MaxPace"/>); the log of grants holds every policy either way.
    /// </summary>
    public static TimeSpan Pace(IReadOnlyList<RateLimitPolicy> policies)
    {
        var pace = TimeSpan.Zero;
        foreach (var policy in policies)
        {
            var spacing = (TimeSpan.FromSeconds(policy.PerSeconds) + Margin) / (2 * policy.Requests);
            if (spacing <= MaxPace && spacing > pace)
            {
                pace = spacing;
            }
        }

        return pace;
    }

    /// <summary>The fastest pace every declared policy allows, in requests per second.</summary>
    public static double Ceiling(IReadOnlyList<RateLimitPolicy> policies) =>
        policies.Count == 0 ? double.PositiveInfinity : policies.Min(p => (double)p.Requests / p.PerSeconds);
}
