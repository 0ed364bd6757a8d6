namespace Ingestion.Platform.Accounts;

/// <summary>
/// The figures of an account over a period, as one set of queries over the tenant's
/// <c>transactions</c>, so a statement and the read API's summary cannot disagree. Parameters:
/// <c>@account</c>, and the period as <c>[@from, @to)</c> in UTC.
/// </summary>
public static class AccountFigures
{
    /// <summary>Per currency: opening balance (everything before the period), money in, money out, line count.</summary>
    public static string SummarySql(string table) => $"""
        select currency,
               coalesce(sum(amount) filter (where occurred_at < @from), 0),
               coalesce(sum(amount) filter (where occurred_at >= @from and amount > 0), 0),
               coalesce(sum(amount) filter (where occurred_at >= @from and amount < 0), 0),
               count(*) filter (where occurred_at >= @from)
        from {table} where account_id = @account and occurred_at < @to
        group by currency order by count(*) filter (where occurred_at >= @from) desc, currency
        """;

    public const string CategoryLabel = "coalesce(category, '(none)')";

    /// <summary>Categories by the money that moved, largest first.</summary>
    public const string CategoryOrder = "sum(abs(amount)) desc, 1, 2";

    public const string MonthLabel = "to_char(occurred_at at time zone 'UTC', 'YYYY-MM')";

    public const string MonthOrder = "1, 2";

    /// <summary>Per label (a category, a month, a merchant) and currency: money in, money out, count, within the period.</summary>
    public static string BreakdownSql(string table, string label, string orderBy) => $"""
        select {label}, currency,
               coalesce(sum(amount) filter (where amount > 0), 0),
               coalesce(sum(amount) filter (where amount < 0), 0),
               count(*)
        from {table} where account_id = @account and occurred_at >= @from and occurred_at < @to
        group by 1, 2 order by {orderBy}
        """;
}
