using Amazon.Runtime;
using Amazon.S3;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Platform.Hosting;

/// <summary>
/// PostgreSQL or S3 not answering is not the client's fault and may pass: 503 with a
/// problem body that says which, never a stack trace. A pool whose every connection stayed busy for the
/// whole wait is not an outage either: 503 that says so, to retry in a second.
/// </summary>
internal sealed class DependencyUnavailableHandler(IProblemDetailsService problems, ILogger<DependencyUnavailableHandler> logger)
    : Microsoft.AspNetCore.Diagnostics.IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.Response.HasStarted)
        {
            return false;
        }

        if (PostgresErrors.PoolExhausted(exception))
        {
            logger.LogWarning("Every PostgreSQL connection stayed busy while serving {Path}: {Reason}", context.Request.Path, exception.Message);
            return await AnswerAsync(context, exception, "1", "The service is busy",
                "No database connection of this instance came free within the wait for one (all busy, or opening slowly); " +
                "this request did nothing. Retry in a second.");
        }

        if (Unavailable(exception) is not { } dependency)
        {
            return false;
        }

        logger.LogWarning(exception, "{Dependency} unavailable while serving {Path}", dependency, context.Request.Path);
        return await AnswerAsync(context, exception, "5", $"{dependency} is unavailable",
            $"The service could not reach {dependency}; nothing was created. Retry later.");
    }

    /// <summary>
    /// A 503 with <c>Retry-After</c>, as the problem details service writes it; for a request that accepts no JSON (a CSV
    /// or NDJSON export) that service writes nothing, and the problem is written as application/problem+json anyway, as a
    /// problem result would be.
    /// </summary>
    private async Task<bool> AnswerAsync(HttpContext context, Exception exception, string retryAfter, string title, string detail)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = retryAfter;
        var problem = new ProblemDetails { Status = StatusCodes.Status503ServiceUnavailable, Title = title, Detail = detail };
        if (await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, Exception = exception, ProblemDetails = problem }))
        {
            return true;
        }

        await context.Response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json");
        return true;
    }

    internal static string? Unavailable(Exception exception) => exception switch
    {
        NpgsqlException { IsTransient: true } or TimeoutException { Source: "Npgsql" } => "PostgreSQL",
        AmazonS3Exception { StatusCode: >= System.Net.HttpStatusCode.InternalServerError } => "S3",
        AmazonServiceException { InnerException: HttpRequestException } or HttpRequestException => "S3",
        AggregateException { InnerException: { } inner } => Unavailable(inner),
        _ => null,
    };
}

/// <summary>What a PostgreSQL failure means to whoever answers for it.</summary>
public static class PostgresErrors
{
    /// <summary>Npgsql's pool found no connection free within its <c>Timeout</c> (the connection string's; the read pool's is <c>Reads:ConnectionWait</c>).</summary>
    public static bool PoolExhausted(Exception exception) => exception switch
    {
        NpgsqlException { InnerException: TimeoutException } e => e.Message.StartsWith("The connection pool has been exhausted", StringComparison.Ordinal),
        AggregateException { InnerException: { } inner } => PoolExhausted(inner),
        _ => false,
    };
}
