using Amazon.Runtime;
using Amazon.S3;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
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
        if (PoolExhausted(exception) && !context.Response.HasStarted)
        {
            logger.LogWarning("Every PostgreSQL connection stayed busy while serving {Path}: {Reason}", context.Request.Path, exception.Message);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "1";
            return await problems.TryWriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                Exception = exception,
                ProblemDetails =
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Title = "The service is busy",
                    Detail = "Every database connection of this instance stayed busy for as long as a request may wait for one; " +
                             "this request did nothing. Retry in a second.",
                },
            });
        }

        var dependency = Unavailable(exception);
        if (dependency is null || context.Response.HasStarted)
        {
            return false;
        }

        logger.LogWarning(exception, "{Dependency} unavailable while serving {Path}", dependency, context.Request.Path);
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "5";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = $"{dependency} is unavailable",
                Detail = $"The service could not reach {dependency}; nothing was created. Retry later.",
            },
        });
    }

    /// <summary>Npgsql's pool found no connection free within its <c>Timeout</c> (the connection string's; the read pool's is <c>Reads:ConnectionWait</c>).</summary>
    internal static bool PoolExhausted(Exception exception) => exception switch
    {
        NpgsqlException { InnerException: TimeoutException } e => e.Message.StartsWith("The connection pool has been exhausted", StringComparison.Ordinal),
        AggregateException { InnerException: { } inner } => PoolExhausted(inner),
        _ => false,
    };

    internal static string? Unavailable(Exception exception) => exception switch
    {
        NpgsqlException { IsTransient: true } or TimeoutException { Source: "Npgsql" } => "PostgreSQL",
        AmazonS3Exception { StatusCode: >= System.Net.HttpStatusCode.InternalServerError } => "S3",
        AmazonServiceException { InnerException: HttpRequestException } or HttpRequestException => "S3",
        AggregateException { InnerException: { } inner } => Unavailable(inner),
        _ => null,
    };
}
