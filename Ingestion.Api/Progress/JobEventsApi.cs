using System.Globalization;
using System.Text;
using System.Text.Json;
using Ingestion.Api.Jobs;
using Ingestion.Api.Security;
using Ingestion.Platform.Jobs;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Progress;

/// <summary>
/// <c>GET /v1/jobs/{id}/stream</c>: the job's changes as Server-Sent Events, ending with its
/// final state. Each event's <c>id</c> is the job's version, its <c>data</c> the job as
/// <c>GET /v1/jobs/{id}</c> shows it (<c>event: state</c> when the status changed,
/// <c>event: progress</c> otherwise). A client that reconnects with <c>Last-Event-ID</c> is
/// replayed every transition it missed from the audit trail, then the job as it is now.
/// </summary>
public static class JobEventsApi
{
    public static IEndpointRouteBuilder MapJobStream(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/jobs/{jobId:guid}/stream", Stream)
            .WithTags("Jobs")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream");
        return app;
    }

    public static async Task<Results<StreamResult, NoContent, ProblemHttpResult>> Stream(Guid jobId, HttpContext context,
        JobStore jobs, JobHistory history, JobFeed feed, IOptions<ProgressOptions> options, IOptions<JsonOptions> json,
        string? lastEventId, CancellationToken cancellationToken)
    {
        var caller = Caller.From(context.User);
        var resumeFrom = context.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? lastEventId;
        int? resumeVersion = null;
        if (!string.IsNullOrEmpty(resumeFrom))
        {
            if (!int.TryParse(resumeFrom, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                return TypedResults.Problem(statusCode: 400, title: "Invalid Last-Event-ID",
                    detail: $"'{resumeFrom}' is not an event id this stream sent: they are job versions, whole numbers.");
            }

            resumeVersion = version;
        }

        // Watch first, read second: a change committed in between arrives as an event.
        var watch = feed.Watch(jobId);
        JobState? job;
        try
        {
            job = await jobs.FindForAsync(caller, jobId, cancellationToken);
        }
        catch
        {
            watch.Dispose();
            throw;
        }

        if (job is null)
        {
            watch.Dispose();
            return JobsApi.NotFound(jobId);
        }

        if (job.IsFinished && resumeVersion >= job.Version)
        {
            // Nothing more will come: 204 tells an EventSource to stop reconnecting.
            watch.Dispose();
            return TypedResults.NoContent();
        }

        var writer = new Writer(context, caller, history, jobs, watch, options.Value, json.Value.SerializerOptions);
        return new StreamResult(ct => writer.RunAsync(job, resumeVersion, ct));
    }

    /// <summary>Runs the stream once the status line and headers are decided.</summary>
    public sealed class StreamResult(Func<CancellationToken, Task> run) : IResult, IStatusCodeHttpResult, IContentTypeHttpResult
    {
        public int? StatusCode => StatusCodes.Status200OK;

        public string ContentType => "text/event-stream";

        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status200OK;
            httpContext.Response.ContentType = ContentType;
            httpContext.Response.Headers.CacheControl = "no-cache, no-transform";
            httpContext.Response.Headers["X-Accel-Buffering"] = "no";
            httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            try
            {
                await run(httpContext.RequestAborted);
            }
            catch (OperationCanceledException) when (httpContext.RequestAborted.IsCancellationRequested)
            {
                // The client went away; nothing to answer.
            }
        }
    }

    private sealed class Writer(
        HttpContext context,
        Caller caller,
        JobHistory history,
        JobStore jobs,
        JobFeed.Subscription watch,
        ProgressOptions options,
        JsonSerializerOptions json)
    {
        private int _sent;
        private string? _state;

        public async Task RunAsync(JobState job, int? resumeVersion, CancellationToken cancellationToken)
        {
            using var _ = watch;
            var response = context.Response;
            await response.WriteAsync($"retry: {(int)options.ReconnectDelay.TotalMilliseconds}\n\n", cancellationToken);
            if (resumeVersion is { } version)
            {
                _sent = version;
                await CatchUpAsync(job, cancellationToken);
            }
            else
            {
                await SendAsync(job, cancellationToken);
            }

            while (!job.IsFinished)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                idle.CancelAfter(options.KeepAlive);
                bool woke;
                try
                {
                    woke = await watch.Changes.WaitToReadAsync(idle.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    woke = false;
                }

                if (!woke || watch.TakeOverflow())
                {
                    // Quiet for a while, or changes were dropped: the database says where the job is.
                    await response.WriteAsync(": keep-alive\n\n", cancellationToken);
                    job = await jobs.FindAsync(job.CorrelationId, cancellationToken) ?? job;
                    await CatchUpAsync(job, cancellationToken);
                    continue;
                }

                while (watch.Changes.TryRead(out var change))
                {
                    if (change.Version <= _sent)
                    {
                        continue;
                    }

                    var changed = JobSerializer.Deserialize(change.Kind, change.Job);
                    await CatchUpAsync(changed, cancellationToken);
                    job = changed;
                }
            }
        }

        /// <summary>
        /// Brings the client to <paramref name="job"/>: the transitions between what it was sent
        /// and that version first (from the audit trail, so none is missed when events were
        /// lost, reordered or before a reconnect), then the job itself.
        /// </summary>
        private async Task CatchUpAsync(JobState job, CancellationToken cancellationToken)
        {
            if (job.Version <= _sent)
            {
                return;
            }

            if (job.Version > _sent + 1)
            {
                foreach (var missed in await history.TransitionsAfterAsync(job.CorrelationId, job.Kind, _sent, cancellationToken))
                {
                    if (missed.Version < job.Version)
                    {
                        await SendAsync(missed, cancellationToken);
                    }
                }
            }

            await SendAsync(job, cancellationToken);
        }

        private async Task SendAsync(JobState job, CancellationToken cancellationToken)
        {
            var name = _state is null || _state != job.CurrentState ? "state" : "progress";
            var data = JsonSerializer.Serialize(JobView.From(job, caller.IsOps), json);
            var text = new StringBuilder()
                .Append("id: ").Append(job.Version.ToString(CultureInfo.InvariantCulture)).Append('\n')
                .Append("event: ").Append(name).Append('\n')
                .Append("data: ").Append(data).Append("\n\n")
                .ToString();
            await context.Response.WriteAsync(text, cancellationToken);
            await context.Response.Body.FlushAsync(cancellationToken);
            _sent = job.Version;
            _state = job.CurrentState;
        }
    }
}
