package identity

// STAND-IN for linkerd2 controller/identity (validator.go, trust domain): the
// Kubernetes token validator and the identity naming scheme.

import (
	"context"
	"fmt"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// TokenAudience is the audience of the projected service account token that
// Linkerd proxies present (volume linkerd-identity-token).
const TokenAudience = "identity.l5d.io"

// TrustDomain names identities: <name>.<ns>.<type>.identity.<controlNS>.<domain>.
type TrustDomain struct {
	controlNS, domain string
}

// NewTrustDomain validates the control-plane namespace and the trust domain.
func NewTrustDomain(controlNS, domain string) (*TrustDomain, error) {
	if errs := validation.IsDNS1123Label(controlNS); len(errs) > 0 {
		return nil, fmt.Errorf("invalid label '%s': %s", controlNS, strings.Join(errs, ", "))
	}
	if errs := validation.IsDNS1123Subdomain(domain); len(errs) > 0 {
		return nil, fmt.Errorf("invalid trust domain '%s': %s", domain, strings.Join(errs, ", "))
	}
	return &TrustDomain{controlNS, domain}, nil
}

// Identity returns the DNS-form identity of an object of the given type.
func (d *TrustDomain) Identity(typ, name, ns string) (string, error) {
	for _, l := range []string{typ, name, ns} {
		if errs := validation.IsDNS1123Label(l); len(errs) > 0 {
			return "", fmt.Errorf("invalid label '%s': %s", l, strings.Join(errs, ", "))
		}
	}
	return fmt.Sprintf("%s.%s.%s.identity.%s.%s", name, ns, typ, d.controlNS, d.domain), nil
}

// ServiceAccountIdentity is the identity a proxy of the given service account gets.
func (d *TrustDomain) ServiceAccountIdentity(sa, ns string) (string, error) {
	return d.Identity("serviceaccount", sa, ns)
}

// TokenReviewer creates TokenReviews; the typed client satisfies it, and unit
// tests substitute a fake.
type TokenReviewer interface {
	Create(ctx context.Context, tr *authnv1.TokenReview, opts metav1.CreateOptions) (*authnv1.TokenReview, error)
}

// K8sTokenValidator validates service account tokens with TokenReviews.
type K8sTokenValidator struct {
	reviews TokenReviewer
	domain  *TrustDomain
}

// NewK8sTokenValidator checks (with a SelfSubjectAccessReview, as upstream)
// that the client may create TokenReviews, and returns a validator.
func NewK8sTokenValidator(ctx context.Context, client kubernetes.Interface, domain *TrustDomain) (*K8sTokenValidator, error) {
	if err := checkAccess(ctx, client); err != nil {
		return nil, err
	}
	return NewTokenValidator(client.AuthenticationV1().TokenReviews(), domain), nil
}

// NewTokenValidator builds a validator without the access check.
func NewTokenValidator(reviews TokenReviewer, domain *TrustDomain) *K8sTokenValidator {
	return &K8sTokenValidator{reviews: reviews, domain: domain}
}

func checkAccess(ctx context.Context, client kubernetes.Interface) error {
	r := &authzv1.SelfSubjectAccessReview{
		Spec: authzv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authzv1.ResourceAttributes{
				Group:    "authentication.k8s.io",
				Version:  "v1",
				Resource: "tokenreviews",
				Verb:     "create",
			},
		},
	}
	rvw, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if !rvw.Status.Allowed {
		return fmt.Errorf("unable to create kubernetes token reviews: %s", rvw.Status.Reason)
	}
	return nil
}

// Validate reviews the token for audience identity.l5d.io and maps
// system:serviceaccount:NS:SA to SA.NS.serviceaccount.identity.<controlNS>.<domain>.
//
// As upstream (controller/identity/validator.go): when the API server does not
// authenticate the token for identity.l5d.io (a token of another audience, such
// as the default ServiceAccount token, is refused with a status.error naming
// the audiences), the review is sent again without audiences, which the API
// server checks against its own audiences; the second answer decides. The
// audiences in the answer are not checked.
func (k *K8sTokenValidator) Validate(ctx context.Context, tok []byte) (string, error) {
	rvw, err := k.review(ctx, tok, []string{TokenAudience})
	if err != nil {
		return "", err
	}
	if rvw.Status.Error != "" || !rvw.Status.Authenticated {
		if rvw, err = k.review(ctx, tok, nil); err != nil {
			return "", err
		}
	}
	if rvw.Status.Error != "" {
		return "", InvalidToken{Reason: rvw.Status.Error}
	}
	if !rvw.Status.Authenticated {
		return "", NotAuthenticated{}
	}

	uns := strings.Split(rvw.Status.User.Username, ":")
	if len(uns) != 4 || uns[0] != "system" {
		return "", InvalidToken{Reason: fmt.Sprintf("Username must be in form system:TYPE:NS:SA: %s", rvw.Status.User.Username)}
	}
	uns = uns[1:]
	for _, l := range uns {
		if errs := validation.IsDNS1123Label(l); len(errs) > 0 {
			return "", InvalidToken{Reason: fmt.Sprintf("Not a label: %s", l)}
		}
	}
	return k.domain.Identity(uns[0], uns[2], uns[1])
}

func (k *K8sTokenValidator) review(ctx context.Context, tok []byte, audiences []string) (*authnv1.TokenReview, error) {
	tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: string(tok), Audiences: audiences}}
	return k.reviews.Create(ctx, tr, metav1.CreateOptions{})
}
