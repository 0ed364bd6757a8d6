using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Reads;

public enum RowFormat
{
    Json,
    Ndjson,
    Csv,
}

public static class RowFormats
{
    /// <summary>
    /// The format the client's <c>Accept</c> prefers: <c>text/csv</c>, <c>application/x-ndjson</c>
    /// (or <c>application/ndjson</c>), and JSON for anything else, <c>*/*</c> and no header included.
    /// </summary>
    public static RowFormat Negotiate(HttpRequest request)
    {
        if (!MediaTypeHeaderValue.TryParseList(request.Headers.Accept, out var accepted) || accepted.Count == 0)
        {
            return RowFormat.Json;
        }

        foreach (var type in accepted.OrderByDescending(a => a.Quality ?? 1))
        {
            var media = type.MediaType.Value?.ToLowerInvariant();
            switch (media)
            {
                case "text/csv":
                    return RowFormat.Csv;
                case "application/x-ndjson" or "application/ndjson":
                    return RowFormat.Ndjson;
                case "application/json" or "*/*" or "application/*":
                    return RowFormat.Json;
            }
        }

        return RowFormat.Json;
    }

    public static string ContentType(RowFormat format) => format switch
    {
        RowFormat.Csv => "text/csv; charset=utf-8",
        RowFormat.Ndjson => "application/x-ndjson",
        _ => "application/json; charset=utf-8",
    };
}
