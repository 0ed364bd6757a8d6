using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Protection;

/// <summary>
/// A tenant may have 2 uploads streaming at once, counted across API instances, and one
/// instance 2 whatever the tenant. acme holds one upload open on each of two instances; 20
/// more of its uploads, sent in parallel, are refused with 429 before their bodies are read
/// (each announces 1 GiB with <c>Expect: 100-continue</c> and sends nothing unless asked).
/// An instance that is full answers 503. Once the held uploads finish, the tenant uploads again.
/// </summary>
public sealed class When_a_tenant_sends_many_uploads_at_once
{
    private readonly TestCsv _csv = new();
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task<HttpResponseMessage>> _held = [];
    private readonly List<Announced> _refused = [];
    private Deployment _stack = null!;
    private HostProcess _secondApi = null!;
    private HttpClient _acme = null!;
    private HttpClient _acmeOnSecond = null!;
    private HttpClient _globex = null!;
    private Announced _instanceFull = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["Limits__JobsPerHour"] = "1000",
            ["Limits__UploadsInFlightPerTenant"] = "2",
            ["Limits__UploadsInFlightPerInstance"] = "2",
            ["Limits__UploadRetryAfter"] = "00:00:07",
        };
        _stack = await Deployment.StartAsync(TestRun.Servers, "inflight", settings);
        _secondApi = await HostProcess.StartAsync("Ingestion.Api", "inflight-api2", _stack.Settings);
        _acme = Client(_stack.Api, Keys.Acme);
        _acmeOnSecond = Client(_secondApi, Keys.Acme);
        _globex = Client(_stack.Api, Keys.Globex);

        await HoldAsync(_acme);
        await HoldAsync(_acmeOnSecond);
        var sent = Enumerable.Range(0, 20).Select(i => AnnounceAsync(i % 2 == 0 ? _stack.Api : _secondApi, Keys.Acme)).ToList();
        _refused.AddRange(await Task.WhenAll(sent));

        await HoldAsync(_globex);
        _instanceFull = await AnnounceAsync(_stack.Api, Keys.Globex);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _release.TrySetResult();
        _acme.Dispose();
        _acmeOnSecond.Dispose();
        _globex.Dispose();
        await _secondApi.DisposeAsync();
        await _stack.DisposeAsync();
    }

    [Test]
    public void Should_refuse_every_upload_beyond_the_tenants_limit_with_429_before_reading_its_body()
    {
        Assert.That(_refused, Has.Count.EqualTo(20));
        Assert.Multiple(() =>
        {
            foreach (var refused in _refused)
            {
                Assert.That(refused.Status, Is.EqualTo(429), "answered without asking for the body (no 100 Continue): " + refused.Head);
                Assert.That(refused.Head, Does.Match(@"(?im)^retry-after: 7\r?$"));
            }
        });
    }

    [Test]
    public void Should_say_why_as_a_problem_with_the_limit()
    {
        var refused = _refused[0];
        Assert.That(refused.Head, Does.Match(@"(?im)^content-type: application/problem\+json"));
        var problem = JsonNode.Parse(refused.Body)!;
        Assert.That(problem["status"]!.GetValue<int>(), Is.EqualTo(429));
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain("2 uploads at a time"));
        Assert.That(problem["uploadsInFlightPerTenant"]!.GetValue<int>(), Is.EqualTo(2));
    }

    [Test]
    public void Should_answer_503_when_the_instance_is_full_whatever_the_tenant()
    {
        Assert.That(_instanceFull.Status, Is.EqualTo(503), _instanceFull.Head);
        Assert.That(_instanceFull.Head, Does.Match(@"(?im)^retry-after: 7\r?$"));
        Assert.That(JsonNode.Parse(_instanceFull.Body)!["uploadsInFlightPerInstance"]!.GetValue<int>(), Is.EqualTo(2));
    }

    [Test]
    public async Task Should_accept_the_held_uploads_and_then_new_ones()
    {
        _release.TrySetResult();
        foreach (var held in _held)
        {
            using var response = await held;
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await response.Content.ReadAsStringAsync());
        }

        var (after, body) = await SendAsync(_acme);
        using (after)
        {
            Assert.That(after.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await after.Content.ReadAsStringAsync());
            Assert.That(body.WasSent, Is.True);
        }

        var jobs = await _acme.GetJsonAsync("/v1/jobs");
        Assert.That(jobs["items"]!.AsArray(), Has.Count.EqualTo(3), "the two held uploads and the one after; none of the refused");
    }

    /// <summary>Starts an upload that sends its header once the API asked for the body, then keeps it open until released.</summary>
    private async Task HoldAsync(HttpClient client)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/datasets/transactions/uploads")
        {
            Content = new HeldContent(_csv.Transactions(20), started, _release.Task),
            Version = HttpVersion.Version11,
        };
        request.Headers.ExpectContinue = true;
        _held.Add(client.SendAsync(request));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>What the API answered to an announced body: its status line and headers, and its body.</summary>
    private sealed record Announced(int Status, string Head, string Body);

    /// <summary>
    /// Announces a 1 GiB upload with <c>Expect: 100-continue</c> and sends no byte of it: an API
    /// that means to read the body answers <c>100 Continue</c> first; one that refuses answers at once.
    /// (HttpClient cannot show this: it sends the body of a request it has started.)
    /// </summary>
    private static async Task<Announced> AnnounceAsync(HostProcess api, string key)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(api.Url.Host, api.Url.Port);
        var stream = tcp.GetStream();
        var head = $"POST /v1/datasets/transactions/uploads HTTP/1.1\r\nHost: {api.Url.Authority}\r\nX-Api-Key: {key}\r\n"
                   + $"Accept: application/json\r\nContent-Type: text/csv\r\nContent-Length: {1L << 30}\r\nExpect: 100-continue\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new StringBuilder();
        var buffer = new byte[8192];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            received.Append(Encoding.UTF8.GetString(buffer, 0, read));
            var text = received.ToString();
            var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0 && ResponseBody(text[..end], text[(end + 4)..], read == 0) is { } body)
            {
                return new Announced(int.Parse(text[9..12], CultureInfo.InvariantCulture), text[..end], body);
            }

            if (read == 0)
            {
                return new Announced(0, text, "");
            }
        }
    }

    /// <summary>The whole body once it has arrived (by its length, its chunks, or the connection's end), else null.</summary>
    private static string? ResponseBody(string head, string rest, bool ended)
    {
        if (head.StartsWith("HTTP/1.1 100", StringComparison.Ordinal))
        {
            return "";
        }

        if (Regex.Match(head, @"(?im)^content-length: (\d+)") is { Success: true } length)
        {
            return Encoding.UTF8.GetByteCount(rest) >= int.Parse(length.Groups[1].Value, CultureInfo.InvariantCulture) ? rest : null;
        }

        if (Regex.IsMatch(head, @"(?im)^transfer-encoding: chunked"))
        {
            if (!rest.EndsWith("0\r\n\r\n", StringComparison.Ordinal))
            {
                return ended ? rest : null;
            }

            var body = new StringBuilder();
            for (var at = 0; ;)
            {
                var lineEnd = rest.IndexOf("\r\n", at, StringComparison.Ordinal);
                var size = int.Parse(rest[at..lineEnd], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    return body.ToString();
                }

                body.Append(rest, lineEnd + 2, size);
                at = lineEnd + 2 + size + 2;
            }
        }

        return ended ? rest : null;
    }

    private async Task<(HttpResponseMessage, RecordingContent)> SendAsync(HttpClient client)
    {
        var body = new RecordingContent(_csv.Transactions(3));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/datasets/transactions/uploads")
        {
            Content = body,
            Version = HttpVersion.Version11,
        };
        request.Headers.ExpectContinue = true;
        return (await client.SendAsync(request), body);
    }

    /// <summary>Waits for the API's <c>100 Continue</c> before sending a body, however long it takes.</summary>
    private static HttpClient Client(HostProcess api, string key)
    {
        var client = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromMinutes(2) })
        {
            BaseAddress = api.Url,
            Timeout = TimeSpan.FromMinutes(2),
        };
        client.DefaultRequestHeaders.Add("X-Api-Key", key);
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return client;
    }

    /// <summary>
    /// A chunked CSV that sends its header line, then empty lines (which a load skips) often enough
    /// that Kestrel's minimum data rate never cuts it, until released; then the rows.
    /// </summary>
    private sealed class HeldContent : HttpContent
    {
        private static readonly byte[] EmptyLines = Enumerable.Repeat((byte)'\n', 100).ToArray();
        private readonly byte[] _csv;
        private readonly TaskCompletionSource _started;
        private readonly Task _release;

        public HeldContent(byte[] csv, TaskCompletionSource started, Task release)
        {
            (_csv, _started, _release) = (csv, started, release);
            Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var header = Array.IndexOf(_csv, (byte)'\n') + 1;
            await stream.WriteAsync(_csv.AsMemory(0, header));
            await stream.FlushAsync();
            _started.TrySetResult();
            while (!_release.IsCompleted)
            {
                await stream.WriteAsync(EmptyLines);
                await stream.FlushAsync();
                await Task.WhenAny(_release, Task.Delay(100));
            }

            await stream.WriteAsync(_csv.AsMemory(header));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = -1;
            return false;
        }
    }

    /// <summary>A CSV body that records whether the client was ever asked to send it.</summary>
    private sealed class RecordingContent : ByteArrayContent
    {
        public RecordingContent(byte[] csv)
            : base(csv) => Headers.ContentType = new MediaTypeHeaderValue("text/csv");

        public bool WasSent { get; private set; }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            WasSent = true;
            return base.SerializeToStreamAsync(stream, context, cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            WasSent = true;
            return base.SerializeToStreamAsync(stream, context);
        }
    }
}
