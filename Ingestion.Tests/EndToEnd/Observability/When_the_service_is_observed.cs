using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Observability;

/// <summary>
/// What an operator's Prometheus scrapes, and what reaches an OpenTelemetry collector: one
/// trace from the HTTP request, through the outbox and RabbitMQ, into the worker.
/// </summary>
public sealed partial class When_the_service_is_observed
{
    [Test]
    public async Task Should_expose_jobs_rows_durations_and_queues_in_prometheus_format()
    {
        using var acme = TestRun.Shared.Client(Keys.Acme);
        var rows = new TestCsv();
        var csv = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(rows.Transactions(40)) + "not-a-uuid,1,2026-01-01T00:00:00Z,1.00,CHF,a,b,c\n"
            + $"{rows.Id(1)},1,2026-01-01T00:00:00Z,1.00,CHF,a,b,duplicate key\n");
        var jobId = await acme.StartUploadAsync("transactions", csv);
        await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");

        using var scraper = new HttpClient();
        var api = await scraper.GetStringAsync(new Uri(TestRun.Shared.Api.ManagementUrl, "/metrics"));
        Assert.That(Value(api, "ingestion_jobs", """kind="upload",state="Completed"""), Is.GreaterThanOrEqualTo(1));
        Assert.That(Sample(api, "ingestion_queue_messages", """queue="process-upload"""), Is.Not.Null, "queue depths are exposed");
        Assert.That(Sample(api, "ingestion_outbox_pending", null), Is.Not.Null, "the outbox backlog is exposed");

        // Any worker may have loaded it: the counters of all of them add up.
        var workers = await Task.WhenAll(TestRun.Shared.Workers.Select(w => scraper.GetStringAsync(new Uri(w.ManagementUrl, "/metrics"))));
        Assert.That(workers.Sum(w => Value(w, "ingestion_rows_loaded_total", """tenant="acme""")), Is.GreaterThanOrEqualTo(40));
        Assert.That(workers.Sum(w => Value(w, "ingestion_rows_rejected_total", """tenant="acme""")), Is.GreaterThanOrEqualTo(2));
        Assert.That(workers.Sum(w => Value(w, "ingestion_job_duration_seconds_count", """kind="upload",state="Completed""")),
            Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public async Task Should_follow_one_job_in_one_trace_from_the_request_into_the_worker()
    {
        // Any local HTTP receiver that keeps what it gets serves as the OTLP/HTTP endpoint.
        using var collector = new WebhookReceiver();
        await using var stack = await Deployment.StartAsync(TestRun.Servers, "traced", new Dictionary<string, string>
        {
            ["OpenTelemetry__Endpoint"] = collector.Url(""),
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
        });
        using var acme = stack.Client(Keys.Acme);
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        using var upload = new HttpRequestMessage(HttpMethod.Post, "/v1/datasets/transactions/uploads")
        {
            Content = new ByteArrayContent(new TestCsv().Transactions(5)),
        };
        upload.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
        upload.Headers.Add("traceparent", $"00-{traceId}-{"00f067aa0ba902b7"}-01");
        using var accepted = await acme.SendAsync(upload);
        Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var jobId = Guid.Parse(accepted.Headers.Location!.ToString().Split('/')[^1]);
        await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "completed");

        // OTLP bodies are protobuf: the trace id travels as its 16 raw bytes, the service name as text.
        var id = Convert.FromHexString(traceId);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && !(Exported(collector, "Ingestion.Api", id) && Exported(collector, "Ingestion.Workers", id)))
        {
            await Task.Delay(200);
        }

        Assert.That(Exported(collector, "Ingestion.Api", id), Is.True, "the API's spans carry the caller's trace");
        Assert.That(Exported(collector, "Ingestion.Workers", id), Is.True, "the worker's spans continue the same trace");
        Assert.That(Exported(collector, "outbox relay", id), Is.True, "the outbox relay sends inside the request's trace");
    }

    private static double Value(string exposition, string name, string? labels)
    {
        var value = Sample(exposition, name, labels);
        Assert.That(value, Is.Not.Null, $"{name} {labels} is not exposed");
        return value!.Value;
    }

    /// <summary>The sample's value, or null when the exposition has no such sample.</summary>
    private static double? Sample(string exposition, string name, string? labels)
    {
        var pattern = labels is null ? $"^{Regex.Escape(name)} (\\S+)$" : $"^{Regex.Escape(name)}\\{{[^}}]*{Regex.Escape(labels)}[^}}]*\\}} (\\S+)$";
        var match = Regex.Match(exposition, pattern, RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>Whether one OTLP export the receiver got holds both the text and the trace id.</summary>
    private static bool Exported(WebhookReceiver collector, string text, byte[] traceId)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        return collector.Received("v1/traces").Any(r => r.Body.AsSpan().IndexOf(needle) >= 0 && r.Body.AsSpan().IndexOf(traceId) >= 0);
    }
}
