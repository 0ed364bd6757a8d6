using Ingestion.Api.Security;
using Ingestion.Platform.Sources;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Ingestion.Api.Sources;

/// <summary>
/// How a source's credential is using its rate budget: every policy the budget is judged by with the
/// requests it counts now, a tighter limit learnt from the upstream, a block the upstream asked for,
/// and the requests granted over the recent past, counted per time slot. Read-only: it takes no
/// permit and writes nothing. The grant log is kept only as long as the budget's longest window
/// (<c>ingestion.rate_grants</c>), so that is as far back as it can answer; a client that wants a
/// longer picture keeps polling (the console does, while a sync runs).
/// </summary>
public static class SourceBudgetApi
{
    /// <summary>Slots per answer at most: a chart's worth, whatever the window.</summary>
    private const int MaxSlots = 120;

    private const int MaxWindowSeconds = 3600;

    // One row even before any sync created the budget (left join on a one-row select). A learned
    // limit counts by the rule the workers' RateBudget judges by (LearnedLimit).
    private const string StateSql = $"""
        select b.blocked_until,
               case when {LearnedLimit.InForceSql} then b.learned_requests end,
               b.learned_seconds, clock_timestamp()
        from (select 1) one left join ingestion.rate_budgets b on b.budget_key = @key
        """;

    // Every policy of every source on the credential (RateBudget judges each request by all of them).
    private const string KnownPoliciesSql = """
        select distinct requests, per_seconds from ingestion.rate_policies where budget_key = @key
        """;

    private const string UsedSql = """
        select count(*) from ingestion.rate_grants where budget_key = @key and at > @now - make_interval(secs => @seconds)
        """;

    private const string SlotsSql = """
        select date_bin(make_interval(secs => @slot), at, timestamptz 'epoch') as slot, count(*)
        from ingestion.rate_grants
        where budget_key = @key and at > @now - make_interval(secs => @window)
        group by slot order by slot
        """;

    public static RouteHandlerBuilder MapSourceBudget(this RouteGroupBuilder sources) => sources.MapGet("/{name}/budget", GetBudget);

    /// <param name="Requests">At most this many requests…</param>
    /// <param name="PerSeconds">…in any window of this many seconds.</param>
    /// <param name="Used">Requests granted within the last window of this policy, as of <c>at</c>.</param>
    /// <param name="Origin"><c>declared</c> by this source, <c>shared</c> (declared by another source on the same credential) or <c>learned</c> from the upstream's headers.</param>
    public sealed record PolicyUse(int Requests, int PerSeconds, long Used, string Origin);

    /// <param name="At">Start of the slot.</param>
    /// <param name="Requests">Requests granted in it.</param>
    public sealed record GrantSlot(DateTimeOffset At, long Requests);

    /// <param name="Source">The source's name.</param>
    /// <param name="At">The database clock the answer was read at (the clock every worker shares).</param>
    /// <param name="BlockedUntil">The upstream asked for no request before this (Retry-After, a spent remaining count); null when it did not.</param>
    /// <param name="Policies">Every policy the budget is judged by, with its current use.</param>
    /// <param name="SlotSeconds">Length of each slot of <paramref name="Grants"/>.</param>
    /// <param name="WindowSeconds">How far back <paramref name="Grants"/> goes.</param>
    /// <param name="Grants">Requests granted per slot (slots aligned on the Unix epoch), oldest first; slots without any are left out.</param>
    public sealed record BudgetView(string Source, DateTimeOffset At, DateTimeOffset? BlockedUntil, IReadOnlyList<PolicyUse> Policies,
        int SlotSeconds, int WindowSeconds, IReadOnlyList<GrantSlot> Grants);

    /// <summary>The source's rate budget now and over its longest window (or <paramref name="seconds"/>, up to an hour).</summary>
    public static async Task<Results<Ok<BudgetView>, ProblemHttpResult>> GetBudget(string name, int? seconds, HttpContext context,
        SourceCatalog catalog, NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        if (seconds is < 1 or > MaxWindowSeconds)
        {
            return TypedResults.Problem(statusCode: 400, title: "The window is not valid",
                detail: $"seconds must be between 1 and {MaxWindowSeconds}; it was {seconds}.");
        }

        if (await catalog.FindAsync(tenant, name, cancellationToken) is not { } source)
        {
            return SourcesApi.UnknownSource(name);
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        DateTimeOffset? blockedUntil;
        DateTimeOffset now;
        var policies = new List<(int Requests, int PerSeconds, string Origin)>();
        var declared = source.Definition.RateLimit.Policies;
        policies.AddRange(declared.Select(p => (p.Requests, p.PerSeconds, "declared")));
        await using (var state = new NpgsqlCommand(StateSql, connection))
        {
            state.Parameters.AddWithValue("key", source.BudgetKey);
            state.Parameters.AddWithValue("lapse", SourceRateLimit.Lapse);
            await using var reader = await state.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            blockedUntil = reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0);
            // A limit the upstream says that its source already declares adds nothing: shown once, as declared.
            if (!reader.IsDBNull(1) && !reader.IsDBNull(2)
                && !declared.Any(d => d.Requests == reader.GetInt32(1) && d.PerSeconds == reader.GetInt32(2)))
            {
                policies.Add((reader.GetInt32(1), reader.GetInt32(2), "learned"));
            }

            now = reader.GetFieldValue<DateTimeOffset>(3);
        }

        await using (var known = new NpgsqlCommand(KnownPoliciesSql, connection))
        {
            known.Parameters.AddWithValue("key", source.BudgetKey);
            await using var reader = await known.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var (requests, perSeconds) = (reader.GetInt32(0), reader.GetInt32(1));
                if (!declared.Any(d => d.Requests == requests && d.PerSeconds == perSeconds))
                {
                    policies.Add((requests, perSeconds, "shared"));
                }
            }
        }

        var uses = new List<PolicyUse>(policies.Count);
        foreach (var (requests, perSeconds, origin) in policies)
        {
            await using var used = new NpgsqlCommand(UsedSql, connection);
            used.Parameters.AddWithValue("key", source.BudgetKey);
            used.Parameters.AddWithValue("now", now);
            used.Parameters.AddWithValue("seconds", (double)perSeconds);
            uses.Add(new PolicyUse(requests, perSeconds, (long)(await used.ExecuteScalarAsync(cancellationToken))!, origin));
        }

        var window = seconds ?? Math.Clamp(policies.Count == 0 ? 60 : policies.Max(p => p.PerSeconds), 1, MaxWindowSeconds);
        var slot = Math.Max(1, (window + MaxSlots - 1) / MaxSlots);
        var grants = new List<GrantSlot>();
        await using (var slots = new NpgsqlCommand(SlotsSql, connection))
        {
            slots.Parameters.AddWithValue("key", source.BudgetKey);
            slots.Parameters.AddWithValue("now", now);
            slots.Parameters.AddWithValue("slot", (double)slot);
            slots.Parameters.AddWithValue("window", (double)window);
            await using var reader = await slots.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                grants.Add(new GrantSlot(reader.GetFieldValue<DateTimeOffset>(0), reader.GetInt64(1)));
            }
        }

        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Ok(new BudgetView(source.Definition.Name, now, blockedUntil, uses, slot, window, grants));
    }
}
