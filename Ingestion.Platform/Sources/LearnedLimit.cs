namespace Ingestion.Platform.Sources;

/// <summary>
/// When a limit the upstream revealed (<c>ingestion.rate_budgets.learned_*</c>) still counts: until
/// its window and <see cref="SourceRateLimit.Lapse"/> have passed since a response last said it. One
/// rule for the workers' budget, which judges requests by it, and the API's view of the budget, which
/// shows it: written once, so the two cannot disagree on when it lapsed.
/// </summary>
public static class LearnedLimit
{
    /// <summary>
    /// The condition, in SQL, on a row of <c>ingestion.rate_budgets</c> aliased <c>b</c>; the query binds
    /// <c>@lapse</c> to <see cref="SourceRateLimit.Lapse"/>. Judged on PostgreSQL's clock, the one every worker shares.
    /// </summary>
    public const string InForceSql = "b.learned_at > clock_timestamp() - make_interval(secs => b.learned_seconds) - @lapse";
}
