namespace Ingestion.Tests.Infrastructure;

/// <summary>Rate budget grants written straight into the log, as if sent earlier: a budget test's starting point on its own terms.</summary>
public static class PastGrants
{
    /// <summary>
    /// Ten grants on <paramref name="key"/>, the first <paramref name="firstAgo"/> before PostgreSQL's now and each
    /// <paramref name="spacing"/> after the one before, each ending 5 ms after its slot.
    /// </summary>
    public static Task WriteTenAsync(Sandbox sandbox, string key, TimeSpan firstAgo, TimeSpan spacing) =>
        sandbox.ExecuteAsync("""
            insert into ingestion.rate_grants (budget_key, at, ends)
            select @key, now() - @ago + i * @spacing, now() - @ago + i * @spacing + interval '5 milliseconds'
            from generate_series(0, 9) i
            """, ("key", key), ("ago", firstAgo), ("spacing", spacing));
}
