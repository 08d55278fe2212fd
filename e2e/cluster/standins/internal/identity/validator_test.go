package identity

import (
	"context"
	"errors"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeReviews answers TokenReviews from a table (unit level only; the local
// cluster tier uses the real kube-apiserver).
//
// status answers every review of a token; noAudience, when it holds the
// token, answers the reviews sent without audiences instead (the API server
// then checks the token against its own audiences).
type fakeReviews struct {
	status     map[string]authnv1.TokenReviewStatus
	noAudience map[string]authnv1.TokenReviewStatus
	seen       []authnv1.TokenReviewSpec
	err        error
}

func (f *fakeReviews) Create(_ context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	f.seen = append(f.seen, tr.Spec)
	if f.err != nil {
		return nil, f.err
	}
	out := tr.DeepCopy()
	out.Status = f.status[tr.Spec.Token]
	if st, ok := f.noAudience[tr.Spec.Token]; ok && len(tr.Spec.Audiences) == 0 {
		out.Status = st
	}
	return out, nil
}

func TestK8sTokenValidator(t *testing.T) {
	dom, err := NewTrustDomain("linkerd", "cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	user := func(name string) authnv1.UserInfo { return authnv1.UserInfo{Username: name} }
	reviews := &fakeReviews{status: map[string]authnv1.TokenReviewStatus{
		"web":       {Authenticated: true, User: user("system:serviceaccount:emojivoto:web"), Audiences: []string{TokenAudience}},
		"noaud":     {Authenticated: true, User: user("system:serviceaccount:emojivoto:web")},
		"unauth":    {Authenticated: false},
		"error":     {Error: "token audiences [\"api\"] is invalid for the target audiences [\"identity.l5d.io\"]"},
		"human":     {Authenticated: true, User: user("alice")},
		"notalabel": {Authenticated: true, User: user("system:serviceaccount:Emoji_Voto:web")},
	}}
	v := NewTokenValidator(reviews, dom)

	got, err := v.Validate(context.Background(), []byte("web"))
	if err != nil || got != webIdentity {
		t.Fatalf("web: %q %v", got, err)
	}
	if aud := reviews.seen[0].Audiences; len(aud) != 1 || aud[0] != "identity.l5d.io" {
		t.Fatalf("TokenReview audiences %v, want [identity.l5d.io]", aud)
	}
	if got, err := v.Validate(context.Background(), []byte("noaud")); err != nil || got != webIdentity {
		t.Fatalf("noaud: %q %v", got, err)
	}

	for tok, want := range map[string]error{
		"unauth": NotAuthenticated{},
		"error":  InvalidToken{}, "human": InvalidToken{}, "notalabel": InvalidToken{},
	} {
		_, err := v.Validate(context.Background(), []byte(tok))
		switch want.(type) {
		case NotAuthenticated:
			if !errors.As(err, new(NotAuthenticated)) {
				t.Errorf("%s: %v, want NotAuthenticated", tok, err)
			}
		case InvalidToken:
			if !errors.As(err, new(InvalidToken)) {
				t.Errorf("%s: %v, want InvalidToken", tok, err)
			}
		}
	}

	reviews.err = errors.New("apiserver down")
	if _, err := v.Validate(context.Background(), []byte("web")); err == nil ||
		errors.As(err, new(InvalidToken)) || errors.As(err, new(NotAuthenticated)) {
		t.Fatalf("API error must surface as a plain error, got %v", err)
	}
}

func TestTrustDomain(t *testing.T) {
	if _, err := NewTrustDomain("Linkerd!", "cluster.local"); err == nil {
		t.Error("bad namespace accepted")
	}
	if _, err := NewTrustDomain("linkerd", "not a domain"); err == nil {
		t.Error("bad trust domain accepted")
	}
	dom, _ := NewTrustDomain("linkerd", "example.org")
	id, err := dom.ServiceAccountIdentity("default", "shop")
	if err != nil || id != "default.shop.serviceaccount.identity.linkerd.example.org" {
		t.Fatalf("%q %v", id, err)
	}
}

func TestStartupAccessCheck(t *testing.T) {
	dom, _ := NewTrustDomain("linkerd", "cluster.local")
	for _, allowed := range []bool{true, false} {
		client := fake.NewClientset()
		var asked *authzv1.ResourceAttributes
		client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
			r := a.(k8stesting.CreateAction).GetObject().(*authzv1.SelfSubjectAccessReview)
			asked = r.Spec.ResourceAttributes
			r = r.DeepCopy()
			r.Status.Allowed = allowed
			return true, r, nil
		})
		_, err := NewK8sTokenValidator(context.Background(), client, dom)
		if allowed != (err == nil) {
			t.Errorf("allowed=%v: err %v", allowed, err)
		}
		if asked == nil || asked.Group != "authentication.k8s.io" || asked.Resource != "tokenreviews" || asked.Verb != "create" {
			t.Errorf("access review asked %+v", asked)
		}
	}
}
