using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Ingestion.Tests.Infrastructure;

/// <summary>One Server-Sent Event: its id, its name and its data as JSON, and when it arrived.</summary>
public sealed record ServerEvent(string? Id, string Name, JsonNode Data, DateTimeOffset ReceivedAt)
{
    public int Version => int.Parse(Id!, System.Globalization.CultureInfo.InvariantCulture);

    public string Status => Data["status"]!.GetValue<string>();
}

/// <summary>
/// A plain Server-Sent Events reader, as a browser's EventSource parses the stream: fields
/// by line, an event per blank line, comments ignored. Nothing of the API's code is used.
/// </summary>
public sealed class EventSourceClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private EventSourceClient(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public HttpStatusCode StatusCode => _response.StatusCode;

    public string? ContentType => _response.Content.Headers.ContentType?.MediaType;

    public static async Task<EventSourceClient> OpenAsync(HttpClient client, string path, string? lastEventId = null,
        CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Clear();
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        return new EventSourceClient(response, new StreamReader(body, Encoding.UTF8));
    }

    /// <summary>The next event, or null when the server ended the stream.</summary>
    public async Task<ServerEvent?> NextAsync(CancellationToken cancellationToken = default)
    {
        string? id = null;
        var name = "message";
        var data = new StringBuilder();
        while (await _reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (data.Length > 0)
                {
                    return new ServerEvent(id, name, JsonNode.Parse(data.ToString())!, DateTimeOffset.UtcNow);
                }

                continue;
            }

            if (line.StartsWith(':'))
            {
                continue;
            }

            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id":
                    id = value;
                    break;
                case "event":
                    name = value;
                    break;
                case "data":
                    data.Append(data.Length > 0 ? "\n" : "").Append(value);
                    break;
            }
        }

        return null;
    }

    /// <summary>Every event until the server ends the stream.</summary>
    public async Task<List<ServerEvent>> ToEndAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        var events = new List<ServerEvent>();
        while (await NextAsync(cancel.Token) is { } next)
        {
            events.Add(next);
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        await Task.CompletedTask;
    }
}
