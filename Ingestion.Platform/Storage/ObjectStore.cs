using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;

namespace Ingestion.Platform.Storage;

/// <summary>The service's bucket: streamed writes and ranged reads, presigned links, deletes.</summary>
public sealed class ObjectStore(IAmazonS3 s3, IOptions<S3Options> options)
{
    private readonly S3Options _options = options.Value;

    public string Bucket => _options.Bucket;

    public S3UploadStream OpenWrite(string key, string contentType) =>
        new(s3, _options.Bucket, key, contentType, _options.PartSizeBytes, _options.PartsInFlight);

    /// <summary>Streams an object from <paramref name="offset"/> to its end (a ranged GET when offset &gt; 0).</summary>
    public Task<Stream> OpenReadAsync(string key, long offset, CancellationToken cancellationToken) =>
        OpenReadAsync(_options.Bucket, key, offset, cancellationToken);

    public async Task<Stream> OpenReadAsync(string bucket, string key, long offset, CancellationToken cancellationToken)
    {
        var request = new GetObjectRequest { BucketName = bucket, Key = key };
        if (offset > 0)
        {
            request.ByteRange = new ByteRange($"bytes={offset}-");
        }

        var response = await s3.GetObjectAsync(request, cancellationToken);
        return response.ResponseStream;
    }

    /// <summary>The object's size, or null when it does not exist.</summary>
    public async Task<long?> SizeAsync(string bucket, string key, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await s3.GetObjectMetadataAsync(bucket, key, cancellationToken);
            return metadata.ContentLength;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
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
            Protocol = _options.ServiceUrl?.StartsWith("http://", StringComparison.OrdinalIgnoreCase) == true
                ? Protocol.HTTP
                : Protocol.HTTPS,
        };
        if (downloadName is not null)
        {
            request.ResponseHeaderOverrides.ContentDisposition = $"attachment; filename=\"{downloadName}\"";
        }

        return await s3.GetPreSignedURLAsync(request);
    }
}
