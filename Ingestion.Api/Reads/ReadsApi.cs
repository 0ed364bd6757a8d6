using Ingestion.Api.Datasets;
using Ingestion.Api.Security;
using Ingestion.Platform.Datasets;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Reads;

/// <summary>
/// <c>GET /v1/datasets/{name}/rows</c>: a dataset's rows, filtered on its typed columns, in
/// pages that follow each other by keyset, or streamed whole as NDJSON or CSV.
/// </summary>
public static class ReadsApi
{
    public static IEndpointRouteBuilder MapReadsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/datasets/{name}/rows", Rows)
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithReadBudget()
            .WithTags("Reads");

        // A download link (the console's Export) cannot send an Accept header: the same CSV export at a path of its own.
        app.MapGet("/v1/datasets/{name}/rows.csv", RowsAsCsv)
            .RequireAuthorization(SecurityExtensions.TenantPolicy)
            .WithReadBudget()
            .WithTags("Reads");
        app.MapAccountReadsApi();
        return app;
    }

    /// <summary>The rows as <c>text/csv</c> whatever the request's <c>Accept</c>, as an attachment: filters and <c>order</c> as for <c>/rows</c>.</summary>
    public static Task<IResult> RowsAsCsv(string name, HttpContext context, ReadCatalog catalog, ReadDatabase database,
        RowCursor cursors, IOptions<ReadOptions> options, CancellationToken cancellationToken)
    {
        context.Request.Headers.Accept = "text/csv";
        return Rows(name, context, catalog, database, cursors, options, cancellationToken);
    }

    public static async Task<IResult> Rows(string name, HttpContext context, ReadCatalog catalog, ReadDatabase database,
        RowCursor cursors, IOptions<ReadOptions> options, CancellationToken cancellationToken)
    {
        var tenant = Caller.From(context.User).TenantId!;
        var target = await catalog.FindAsync(tenant, name, cancellationToken);
        if (target is null)
        {
            return DatasetsApi.UnknownDataset(name);
        }

        var format = RowFormats.Negotiate(context.Request);
        var paged = format == RowFormat.Json;
        var (query, errors) = RowQueries.Parse(target.Dataset, context.Request.Query, options.Value, cursors, paged);
        if (!paged && context.Request.Query.ContainsKey("cursor"))
        {
            errors["cursor"] = ["pages JSON answers; an NDJSON or CSV export streams every selected row at once."];
        }

        if (query is null || errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "The query is not valid");
        }

        if (Unindexed(query, target, options.Value) is { } refused)
        {
            return refused;
        }

        if (paged && IndexAdvice.PagesByRowAddress(query, target.Rows, options.Value.UnindexedScanMaxRows))
        {
            return UnkeyedPages(query, target);
        }

        // An export without an order is read in storage order: one sequential scan, nothing sorted.
        var ordered = paged || context.Request.Query.ContainsKey("order");
        return await ServeAsync(context, database, tenant, query, format, ordered, "rows",
            ReadCaching.DatasetTag(tenant, target.Version, format), options.Value, cursors, cancellationToken);
    }

    /// <summary>Answers 304 when the client's ETag is current, otherwise streams the rows in the negotiated format.</summary>
    internal static async Task<IResult> ServeAsync(HttpContext context, ReadDatabase database, string tenant, RowQuery query,
        RowFormat format, bool ordered, string rowsProperty, string etag, ReadOptions options, RowCursor cursors,
        CancellationToken cancellationToken)
    {
        if (ReadCaching.IsNotModified(context, etag, options.CacheMaxAge))
        {
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        }

        // An export holds its connection to its last row: only so many at once, before it takes one.
        IDisposable? export = null;
        if (format != RowFormat.Json)
        {
            (export, var refused) = database.Exports.TryEnter(context, tenant);
            if (refused is not null)
            {
                return refused;
            }
        }

        using var exporting = export;
        context.Response.ContentType = RowFormats.ContentType(format);
        if (format == RowFormat.Csv)
        {
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"{query.Dataset.Name}.csv\"";
        }

        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        switch (format)
        {
            case RowFormat.Csv:
                await CsvExport.WriteAsync(context, connection, tenant, query, ordered, cancellationToken);
                break;
            case RowFormat.Ndjson:
                await RowWriter.WriteNdjsonAsync(context, connection, tenant, query, ordered, cancellationToken);
                break;
            default:
                if (await RowWriter.WritePageAsync(context, connection, tenant, query, rowsProperty, cursors, options.PageTimeout,
                        cancellationToken) is { } timedOut)
                {
                    return PageTimeouts.Problem(context, options.PageTimeout, query.Dataset.Name, timedOut, query.Limit);
                }

                break;
        }

        return TypedResults.Empty;
    }

    private static ProblemHttpResult UnkeyedPages(RowQuery query, ReadTarget target) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "This dataset cannot be paged",
            detail: $"Dataset '{query.Dataset.Name}' has about {target.Rows:N0} rows and no key, so each JSON page would sort " +
                    "every remaining row by its storage address. Export it as NDJSON or CSV (Accept: application/x-ndjson or " +
                    "text/csv), which streams every row in one scan; or filter or order it by a declared index; or register " +
                    "it with a key.");

    private static ProblemHttpResult? Unindexed(RowQuery query, ReadTarget target, ReadOptions options)
    {
        if (IndexAdvice.Missing(query, target.Rows, options.UnindexedScanMaxRows) is not { } columns)
        {
            return null;
        }

        var filtered = string.Join(", ", query.Filters.Select(f => f.Column.Name).Distinct());
        return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "No index serves this filter",
            detail: $"Dataset '{query.Dataset.Name}' has about {target.Rows:N0} rows and no index starts with a filtered column ({filtered}), " +
                    $"so every request would read them all. The index {DatasetIndex.Describe(columns)} serves it: add it with " +
                    $"POST /v1/datasets/{query.Dataset.Name}/indexes and the body {{\"columns\": {DatasetIndex.Describe(columns)}}}, " +
                    "which starts a job that builds it without blocking loads or reads; this filter works once the job is built.",
            extensions: new Dictionary<string, object?>
            {
                ["index"] = columns,
                ["addIndex"] = new IndexRequestLink("POST", $"/v1/datasets/{query.Dataset.Name}/indexes", new IndexRequestBody(columns)),
            });
    }
}

/// <summary>The request that adds the index a refused filter needs.</summary>
public sealed record IndexRequestLink(string Method, string Href, IndexRequestBody Body);

/// <summary>The body of <see cref="IndexRequestLink"/>.</summary>
public sealed record IndexRequestBody(IReadOnlyList<string> Columns);
