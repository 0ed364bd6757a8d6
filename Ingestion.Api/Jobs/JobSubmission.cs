using System.Text.Json;
using Ingestion.Api.Security;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Limits;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ingestion.Api.Jobs;

/// <summary>
/// What every endpoint that submits a job as JSON does alike (statements, syncs, index builds): read the
/// body with the same 400 and 415 problems, replay an earlier job for a repeated <c>Idempotency-Key</c>,
/// and answer a creation the store refused. Each endpoint keeps what is its own: the body's checks, the
/// job, and what makes two requests the same.
/// </summary>
public static class JobSubmission
{
    /// <summary>The request's JSON body, or the problem that answers it: 400 for JSON that does not bind, 415 for another type.</summary>
    /// <param name="what">What the body is, for the problem's title: <c>statement request</c>.</param>
    public static async Task<(T? Body, ProblemHttpResult? Problem)> ReadAsync<T>(HttpRequest request, string what,
        CancellationToken cancellationToken)
    {
        try
        {
            return (await request.ReadFromJsonAsync<T>(cancellationToken), null);
        }
        catch (JsonException e)
        {
            return (default, TypedResults.Problem(statusCode: 400, title: $"The body is not a valid {what}", detail: e.Message));
        }
        catch (InvalidOperationException e) when (!request.HasJsonContentType())
        {
            return (default, TypedResults.Problem(statusCode: 415, title: "Send the request as application/json", detail: e.Message));
        }
    }

    /// <summary><see cref="Idempotency.Replay"/>, typed as a submit endpoint answers.</summary>
    public static Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult> Replay(HttpContext context, JobState earlier,
        bool sameRequest, string earlierRequest) =>
        Idempotency.Replay(context, earlier, sameRequest, earlierRequest).Result switch
        {
            Accepted<JobAccepted> accepted => accepted,
            ProblemHttpResult problem => problem,
            _ => throw new InvalidOperationException("Idempotency.Replay answers 202 or a problem."),
        };

    /// <summary>
    /// The answer to a creation: 202 with the job's Location when it was created; the job of a request that
    /// raced this one with the same key, replayed through <paramref name="replay"/>; 429 at the tenant's limit.
    /// </summary>
    public static async Task<Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult>> AnswerAsync(JobCreation creation,
        JobState job, HttpContext context, Caller caller, JobStore jobs, JobRateLimit rateLimit,
        Func<JobState, Results<Accepted<JobAccepted>, ValidationProblem, ProblemHttpResult>> replay, CancellationToken cancellationToken)
    {
        switch (creation)
        {
            case JobCreation.Duplicate:
                var winner = await jobs.FindByIdempotencyKeyAsync(caller.TenantId!, job.IdempotencyKey!, cancellationToken);
                return replay(winner!);
            case JobCreation.OverLimit:
                return await JobLimits.RefusedAsync(context, caller, rateLimit);
            default:
                return Idempotency.Accepted(job);
        }
    }
}
