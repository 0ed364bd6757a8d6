using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Ingestion.Api.Reads;

/// <summary>
/// A JSON page or summary that runs past <see cref="ReadOptions.PageTimeout"/>. PostgreSQL is up:
/// the query reads more than a page should (a filter that selects most of a large table, a plan
/// without the index), so the answer says so, rather than the 503 "PostgreSQL is unavailable" that
/// a timeout would otherwise become, and it is not cached.
/// </summary>
public static class PageTimeouts
{
    /// <summary>
    /// Npgsql's command timeout cancels the statement and throws an <see cref="NpgsqlException"/>
    /// around a <see cref="TimeoutException"/>; a server-side <c>statement_timeout</c> is
    /// <c>57014 query_canceled</c>. The request's own cancellation (the client went away) is neither.
    /// </summary>
    public static bool IsTimeout(Exception exception, CancellationToken requestAborted) =>
        !requestAborted.IsCancellationRequested && exception switch
        {
            PostgresException { SqlState: PostgresErrorCodes.QueryCanceled } => true,
            NpgsqlException { InnerException: TimeoutException } => true,
            _ => false,
        };

    /// <summary>The problem a timed-out read answers, with the validators the request had been given removed.</summary>
    /// <param name="limit">The page's row limit, when the read is a page: asking for fewer rows is one way to narrow it.</param>
    public static ProblemHttpResult Problem(HttpContext context, TimeSpan timeout, string what, Exception exception, int? limit = null)
    {
        var seconds = ((long)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(PageTimeouts))
            .LogWarning("A read of {What} ran past the page timeout of {Seconds} s ({Error}) on {Path}", what, seconds,
                exception.GetBaseException().Message, context.Request.Path);
        var headers = context.Response.Headers;
        headers.Remove("ETag");
        headers.Remove("Content-Disposition");
        headers.CacheControl = "no-store";
        var fewer = limit is { } rows ? $", ask for fewer rows than limit={rows.ToString(CultureInfo.InvariantCulture)}" : "";
        var extensions = new Dictionary<string, object?> { ["timeoutSeconds"] = (long)Math.Ceiling(timeout.TotalSeconds) };
        if (limit is not null)
        {
            extensions["limit"] = limit;
        }

        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "The query took too long",
            detail: $"The query is too expensive: it took longer than the page timeout ({seconds} s). Narrow the filter{fewer}, " +
                    "or add an index that serves it.",
            extensions: extensions);
    }
}
