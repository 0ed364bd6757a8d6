using System.Collections.Concurrent;
using System.Globalization;
using Ingestion.Api.Security;
using Ingestion.Platform.Accounts;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Statements;
using Ingestion.Platform.Tenancy;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// An account's transactions (newest first) and its figures over a period, from the built-in
/// <c>transactions</c> dataset: what a banking app's transaction list and overview show. The
/// figures are the statement's own queries (<see cref="AccountFigures"/>).
/// </summary>
public static class AccountReadsApi
{
    public sealed record CurrencyFigures(string Currency, decimal Opening, decimal MoneyIn, decimal MoneyOut, decimal Closing, long Count);

    public sealed record BreakdownFigures(string Label, string Currency, decimal MoneyIn, decimal MoneyOut, decimal Net, long Count);

    public sealed record AccountSummary(long AccountId, string From, string To, IReadOnlyList<CurrencyFigures> Currencies,
        IReadOnlyList<BreakdownFigures> Categories, IReadOnlyList<BreakdownFigures> Months);

    /// <summary>Most categories a summary lists (largest first, as the statement's analytics).</summary>
    public const int MaxCategories = 100;

    // The summary's three statements per tenant table (one table a tenant): built once, not on every summary.
    private static readonly ConcurrentDictionary<string, string[]> SummaryBatches = new(StringComparer.Ordinal);

    public static IEndpointRouteBuilder MapAccountReadsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/accounts/{accountId:long}")
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithReadBudget()
            .WithTags("Reads");
        api.MapGet("/transactions", Transactions);
        api.MapGet("/summary", Summary);
        return app;
    }

    /// <summary><c>?from=YYYY-MM-DD&amp;to=YYYY-MM-DD&amp;category=…&amp;limit=…&amp;cursor=…</c>, newest first.</summary>
    public static async Task<IResult> Transactions(long accountId, HttpContext context, ReadCatalog catalog, ReadDatabase database,
        RowCursor cursors, IOptions<ReadOptions> options, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var request = context.Request.Query;
        var errors = new Dictionary<string, string[]>();
        var (from, to) = Period(request, errors, maxDays: null);
        var format = RowFormats.Negotiate(context.Request);
        var paged = format == RowFormat.Json;
        var transactions = BuiltInDatasets.Transactions;
        var filters = new List<RowFilter> { new(transactions.Column("account_id")!, FilterOp.Eq, [accountId]) };
        if (from is { } f)
        {
            filters.Add(new RowFilter(transactions.Column("occurred_at")!, FilterOp.Gte, [Start(f)]));
        }

        if (to is { } t)
        {
            filters.Add(new RowFilter(transactions.Column("occurred_at")!, FilterOp.Lt, [Start(t.AddDays(1))]));
        }

        if (request["category"] is { Count: > 0 } category)
        {
            filters.Add(new RowFilter(transactions.Column("category")!, FilterOp.Eq, [category[^1] ?? ""]));
        }

        int? limit = paged ? options.Value.DefaultPageSize : null;
        if (request["limit"] is { Count: > 0 } asked)
        {
            if (!int.TryParse(asked[^1], out var n) || n < 1 || (paged && n > options.Value.MaxPageSize))
            {
                errors["limit"] = [$"must be a whole number from 1 to {options.Value.MaxPageSize}."];
            }
            else
            {
                limit = n;
            }
        }

        var unpaged = new RowQuery(transactions, transactions.Columns, filters, ["occurred_at", "transaction_id"],
            Descending: true, limit, null);
        RowQuery? query = null;
        if (errors.Count == 0)
        {
            (query, errors) = RowQueries.WithCursor(unpaged, request["cursor"].LastOrDefault(), cursors);
        }

        if (query is null || errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The query is not valid");
        }

        var version = await catalog.AccountVersionAsync(tenant, accountId, cancellationToken);
        if (version is null)
        {
            return UnknownAccount(accountId);
        }

        return await ReadsApi.ServeAsync(context, database, tenant, query, format, ordered: true, "transactions",
            ReadCaching.AccountTag(tenant, version.Value, "transactions-" + ReadCaching.Suffix(format)), options.Value, cursors,
            cancellationToken);
    }

    /// <summary><c>?from=YYYY-MM-DD&amp;to=YYYY-MM-DD</c> (this month so far by default): the statement's figures for that period.</summary>
    public static async Task<IResult> Summary(long accountId, HttpContext context, ReadCatalog catalog, ReadDatabase database,
        IOptions<ReadOptions> options, IOptions<StatementOptions> statements, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var errors = new Dictionary<string, string[]>();
        var (from, to) = Period(context.Request.Query, errors, statements.Value.MaxPeriodDays);
        var end = to ?? DateOnly.FromDateTime(DateTime.UtcNow);
        var start = from ?? new DateOnly(end.Year, end.Month, 1);
        if (errors.Count == 0 && end.DayNumber - start.DayNumber + 1 > statements.Value.MaxPeriodDays)
        {
            errors["from"] = [$"the period up to {Day(end)} covers {end.DayNumber - start.DayNumber + 1} days; a summary covers at most {statements.Value.MaxPeriodDays}."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The query is not valid");
        }

        var version = await catalog.AccountVersionAsync(tenant, accountId, cancellationToken);
        if (version is null)
        {
            return UnknownAccount(accountId);
        }

        // The period is in the tag: without from/to it is "this month up to today", which moves at
        // midnight while the account's counter does not, and yesterday's figures must not be a 304.
        if (ReadCaching.IsNotModified(context, ReadCaching.AccountTag(tenant, version.Value, $"summary-{Day(start)}-{Day(end)}"),
                options.Value.CacheMaxAge))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        var table = TenantSchema.QualifiedTable(tenant, BuiltInDatasets.Transactions.Name);
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        try
        {
            return TypedResults.Ok(await FiguresAsync(connection, table, accountId, start, end, options.Value.PageTimeout, cancellationToken));
        }
        catch (Exception exception) when (PageTimeouts.IsTimeout(exception, cancellationToken))
        {
            return PageTimeouts.Problem(context, options.Value.PageTimeout, $"account {accountId}'s summary", exception);
        }
    }

    /// <summary>
    /// The three queries of a summary go in one batch: one round trip (with the transaction's BEGIN),
    /// then the COMMIT, instead of one round trip each.
    /// </summary>
    private static async Task<AccountSummary> FiguresAsync(NpgsqlConnection connection, string table, long accountId, DateOnly start,
        DateOnly end, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // One snapshot for the three queries, so the totals agree with the breakdowns as on a statement.
        await using var snapshot = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        await using var batch = new NpgsqlBatch(connection, snapshot) { Timeout = (int)timeout.TotalSeconds };
        foreach (var sql in SummaryBatches.GetOrAdd(table, static t =>
                 [
                     AccountFigures.SummarySql(t),
                     AccountFigures.BreakdownSql(t, AccountFigures.CategoryLabel, $"{AccountFigures.CategoryOrder} limit {MaxCategories}"),
                     AccountFigures.BreakdownSql(t, AccountFigures.MonthLabel, AccountFigures.MonthOrder),
                 ]))
        {
            var command = new NpgsqlBatchCommand(sql);
            command.Parameters.AddWithValue("account", accountId);
            command.Parameters.AddWithValue("from", Start(start));
            command.Parameters.AddWithValue("to", Start(end.AddDays(1)));
            batch.BatchCommands.Add(command);
        }

        List<CurrencyFigures> currencies;
        List<BreakdownFigures> categories;
        List<BreakdownFigures> months;
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            currencies = await ReadAsync(reader, r => new CurrencyFigures(r.GetString(0).Trim(), r.GetDecimal(1), r.GetDecimal(2),
                r.GetDecimal(3), r.GetDecimal(1) + r.GetDecimal(2) + r.GetDecimal(3), r.GetInt64(4)), cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            categories = await ReadAsync(reader, Breakdown, cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            months = await ReadAsync(reader, Breakdown, cancellationToken);
        }

        await snapshot.CommitAsync(cancellationToken);
        return new AccountSummary(accountId, Day(start), Day(end), currencies, categories, months);
    }

    private static BreakdownFigures Breakdown(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetString(1).Trim(), r.GetDecimal(2), r.GetDecimal(3), r.GetDecimal(2) + r.GetDecimal(3), r.GetInt64(4));

    /// <summary>The rows of the reader's current result.</summary>
    private static async Task<List<T>> ReadAsync<T>(NpgsqlDataReader reader, Func<NpgsqlDataReader, T> map,
        CancellationToken cancellationToken)
    {
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(map(reader));
        }

        return rows;
    }

    /// <summary>The period as a statement reads it: whole days in UTC, <c>to</c> included.</summary>
    private static (DateOnly? From, DateOnly? To) Period(IQueryCollection query, Dictionary<string, string[]> errors, int? maxDays)
    {
        DateOnly? Date(string name)
        {
            if (query[name] is not { Count: > 0 } values)
            {
                return null;
            }

            if (DateOnly.TryParseExact(values[^1], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            {
                return day;
            }

            errors[name] = [$"is not a date (YYYY-MM-DD): '{values[^1]}'."];
            return null;
        }

        var from = Date("from");
        var to = Date("to");
        if (from is { } f && to is { } t)
        {
            if (f > t)
            {
                errors["from"] = ["is after to."];
            }
            else if (maxDays is { } max && t.DayNumber - f.DayNumber + 1 > max)
            {
                errors["to"] = [$"the period covers {t.DayNumber - f.DayNumber + 1} days; a summary covers at most {max}."];
            }
        }

        return (from, to);
    }

    private static DateTime Start(DateOnly day) => day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);

    private static string Day(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult UnknownAccount(long accountId) =>
        TypedResults.Problem(statusCode: 404, title: "Unknown account",
            detail: $"No transaction of account {accountId} was ever loaded for this tenant.");
}
