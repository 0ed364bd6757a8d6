using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Storage;

public sealed record ObjectInfo(long Size, string? ETag);

/// <summary>The service's bucket: streamed writes and ranged reads, presigned links, deletes.</summary>
public sealed class ObjectStore(IAmazonS3 s3, IOptions<S3Options> options)
{
    private readonly S3Options _options = options.Value;

    // Presigning is computed locally; a client for the public address only signs links.
    private readonly IAmazonS3 _signer = string.IsNullOrEmpty(options.Value.PublicUrl)
        ? s3
        : StorageExtensions.CreateClient(new S3Options
        {
            ServiceUrl = options.Value.PublicUrl,
            Region = options.Value.Region,
            AccessKey = options.Value.AccessKey,
            SecretKey = options.Value.SecretKey,
            ForcePathStyle = options.Value.ForcePathStyle,
        });

    // Uploads may take as long as their bodies take to arrive: bounded by cancellation, not a timeout.
    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public TimeSpan PresignedUrlLifetime => _options.PresignedUrlLifetime;

    public string Bucket => _options.Bucket;

    public S3UploadStream OpenWrite(string key, string contentType) =>
        new(s3, _options.Bucket, key, contentType, _options.PartSizeBytes, _options.PartsInFlight);

    /// <summary>
    /// Stores a stream of known length with one PUT, read as it is sent: no buffering, no
    /// parts to assemble. It goes to a presigned URL, whose payload is unsigned, because
    /// signing an unseekable stream would otherwise take aws-chunked framing, which not
    /// every S3-compatible server decodes. Up to 5 GiB, S3's limit for a single PUT.
    /// </summary>
    public async Task PutAsync(string key, Stream body, long length, string contentType, CancellationToken cancellationToken)
    {
        var url = await s3.GetPreSignedURLAsync(new GetPreSignedUrlRequest
        {
            BucketName = _options.Bucket,
            Key = key,
            Verb = HttpVerb.PUT,
            ContentType = contentType,
            Expires = DateTime.UtcNow.AddHours(6),
            Protocol = Scheme(_options.ServiceUrl),
        });
        using var content = new StreamContent(body, 1024 * 1024);
        content.Headers.ContentLength = length;
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var response = await Http.PutAsync(url, content, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var detail = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException(
                $"S3 refused the PUT of {key}: {(int)response.StatusCode} {detail[..Math.Min(detail.Length, 300)]}",
                null, response.StatusCode);
        }
    }

    public const long MaxSinglePutBytes = 5L * 1024 * 1024 * 1024;

    /// <summary>
    /// Streams an object from <paramref name="offset"/> to its end, or to <paramref name="end"/> (exclusive).
    /// With <paramref name="etag"/>, only that version of the object is read: a replaced
    /// object fails with 412 Precondition Failed instead of mixing two files.
    /// </summary>
    public async Task<Stream> OpenReadAsync(string bucket, string key, long offset, string? etag, CancellationToken cancellationToken,
        long? end = null)
    {
        // Always a ranged GET, from 0 too: on a whole-object GET the SDK hashes every byte with
        // a managed MD5 to check the ETag, which costs more CPU than parsing the CSV does.
        var request = new GetObjectRequest
        {
            BucketName = bucket,
            Key = key,
            EtagToMatch = etag,
            ByteRange = end is { } last ? new ByteRange(offset, last - 1) : new ByteRange($"bytes={offset}-"),
        };

        var response = await s3.GetObjectAsync(request, cancellationToken);
        return response.ResponseStream;
    }

    /// <summary>Up to <paramref name="length"/> bytes from the start of an object.</summary>
    public async Task<byte[]> ReadHeadAsync(string bucket, string key, int length, string? etag, CancellationToken cancellationToken)
    {
        var response = await s3.GetObjectAsync(new GetObjectRequest
        {
            BucketName = bucket,
            Key = key,
            EtagToMatch = etag,
            ByteRange = new ByteRange(0, length - 1),
        }, cancellationToken);
        await using var body = response.ResponseStream;
        using var head = new MemoryStream(length);
        await body.CopyToAsync(head, cancellationToken);
        return head.ToArray();
    }

    /// <summary>The object's size and version, or null when it does not exist.</summary>
    public async Task<ObjectInfo?> HeadAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await s3.GetObjectMetadataAsync(bucket, key, cancellationToken);
            return new ObjectInfo(metadata.ContentLength, metadata.ETag);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>The keys of the bucket's objects under <paramref name="prefix"/>.</summary>
    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var keys = new List<string>();
        var request = new ListObjectsV2Request { BucketName = _options.Bucket, Prefix = prefix };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, cancellationToken);
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);

        return keys;
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken) =>
        DeleteAsync(_options.Bucket, key, cancellationToken);

    public async Task DeleteAsync(string bucket, string key, CancellationToken cancellationToken) =>
        await s3.DeleteObjectAsync(bucket, key, cancellationToken);

    /// <summary>A GET link to the object that anyone holding it can use until it expires.</summary>
    public async Task<string> PresignGetAsync(string key, DateTimeOffset expiresAt, string? downloadName = null)
    {
        var request = new GetPreSignedUrlRequest
        {
            BucketName = _options.Bucket,
            Key = key,
            Verb = HttpVerb.GET,
            Expires = expiresAt.UtcDateTime,
            Protocol = Scheme(_options.PublicUrl ?? _options.ServiceUrl),
        };
        if (downloadName is not null)
        {
            request.ResponseHeaderOverrides.ContentDisposition = $"attachment; filename=\"{downloadName}\"";
        }

        return await _signer.GetPreSignedURLAsync(request);
    }

    private static Protocol Scheme(string? serviceUrl) =>
        serviceUrl?.StartsWith("http://", StringComparison.OrdinalIgnoreCase) == true ? Protocol.HTTP : Protocol.HTTPS;
}
