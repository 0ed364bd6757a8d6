using System.Net;

namespace Ingestion.Tests.Infrastructure;

/// <summary>
/// A chunked request body sent in two halves, with something the test does in between:
/// cut a server, or throw to make the client vanish mid-upload.
/// </summary>
/// <param name="declareLength">Send a Content-Length (the whole body's) instead of chunking.</param>
public sealed class GatedContent(byte[] first, byte[] rest, Func<Task> between, string contentType = "text/csv", bool declareLength = false)
    : HttpContent
{
    private readonly string _contentType = contentType;

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        Headers.ContentType ??= new System.Net.Http.Headers.MediaTypeHeaderValue(_contentType);
        await stream.WriteAsync(first);
        await stream.FlushAsync();
        await between();
        await stream.WriteAsync(rest);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = declareLength ? first.Length + rest.Length : -1;
        return declareLength;
    }

    public static HttpRequestMessage Upload(string dataset, GatedContent content)
    {
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(content._contentType);
        return new HttpRequestMessage(HttpMethod.Post, $"/v1/datasets/{dataset}/uploads") { Content = content, Version = HttpVersion.Version11 };
    }
}
